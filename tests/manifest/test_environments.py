"""`environments:` in mlci.yaml: typed, names like project names, and every store, host and approver
it names must exist — a located error with "did you mean" otherwise."""

from __future__ import annotations

import pytest

from mlci.errors import ConfigError
from mlci.manifest import load_manifest
from mlci.manifest.environments import promoted_path, resource_name

HEAD = """version: 1
name: t
hosts:
  - {name: gpu-01, address: 10.0.0.1, labels: [serving]}
jenkins:
  approvers:
    - {user: alice, password: ALICE_PW, projects: ["*"]}
artifacts:
  default: shelf
  stores:
    shelf: {type: local, path: shelf}
environments:
"""


def load(tmp_path, environments: str):
    (tmp_path / "mlci.yaml").write_text(HEAD + environments)
    return load_manifest(tmp_path)


def problems(tmp_path, environments: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, environments)
    return str(info.value).splitlines()


def test_a_valid_environment_is_typed_and_its_secrets_are_the_manifests(tmp_path):
    manifest = load(
        tmp_path,
        "  qa: {store: shelf, hosts: [gpu-01]}\n"
        "  prod: {store: shelf, hosts: [serving], secrets: [PROD_DB_URL], approval: true, approvers: [alice]}\n",
    )
    prod = manifest.environments["prod"]
    assert (prod.store, prod.hosts, prod.approval, prod.approvers) == ("shelf", ["serving"], True, ["alice"])
    assert manifest.environments["qa"].approval is False and manifest.environments["qa"].secrets == []
    assert "PROD_DB_URL" in manifest.secret_names()
    assert resource_name("prod", "digits") == "prod-digits"
    assert promoted_path("prod", "digits") == "digits/envs/prod/"


def test_no_environments_is_an_empty_mapping(tmp_path):
    assert load_manifest(tmp_path).environments == {}


def test_unknown_store_host_and_approver_are_located_with_did_you_mean(tmp_path):
    got = problems(tmp_path, "  qa: {store: shelff, hosts: [gpu-1, nowhere], approvers: [alce]}\n")
    assert got == [
        "mlci.yaml:13:15: environments.qa.store: store 'shelff' is not defined — did you mean 'shelf'?",
        "mlci.yaml:13:31: environments.qa.hosts[0]: host or label 'gpu-1' is not defined — did you mean 'gpu-01'?",
        "mlci.yaml:13:38: environments.qa.hosts[1]: host or label 'nowhere' is not defined"
        " — use a host name or label: gpu-01, serving",
        "mlci.yaml:13:60: environments.qa.approvers[0]: approver 'alce' is not defined — did you mean 'alice'?",
    ]


@pytest.mark.parametrize("name", ["Prod", "q_a", "-qa", "qa\\n", "a" * 64, "../x"])
def test_hostile_environment_names_are_refused_at_the_name(tmp_path, name):
    got = problems(tmp_path, f'  "{name}": {{store: shelf}}\n')
    assert len(got) == 1 and got[0].startswith("mlci.yaml:13:3: environments: invalid name ")
    assert "invalid name" in got[0] and "lowercase letters, digits and dashes" in got[0]


def test_unknown_keys_suggest_the_environment_keys(tmp_path):
    got = problems(tmp_path, "  qa: {store: shelf, aproval: true}\n")
    assert got == ["mlci.yaml:13:22: environments.qa.aproval: unknown key 'aproval' — did you mean 'approval'?"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        ("  qa: {hosts: [gpu-01]}\n", "environments.qa.store: required key is missing"),
        ("  qa: {store: shelf, secrets: [lower_case]}\n", "environments.qa.secrets[0]: invalid value 'lower_case'"),
        ("  qa: {store: shelf, approvers: ['a b']}\n", "environments.qa.approvers[0]: invalid value 'a b'"),
        ("  qa: {store: shelf, approval: maybe}\n", "environments.qa.approval:"),
        ("  qa: {store: shelf, hosts: ['$(x)']}\n", "environments.qa.hosts[0]: invalid value"),
    ],
)
def test_bad_values_are_located(tmp_path, body, fragment):
    assert any(fragment in line for line in problems(tmp_path, body))


def test_after_names_an_environment_a_version_must_pass_first(tmp_path):
    manifest = load(tmp_path, "  qa: {store: shelf}\n  prod: {store: shelf, after: qa}\n")
    assert manifest.environments["prod"].after == "qa" and manifest.environments["qa"].after is None


def test_an_unknown_after_is_located_with_did_you_mean(tmp_path):
    assert problems(tmp_path, "  qa: {store: shelf}\n  prod: {store: shelf, after: qaa}\n") == [
        "mlci.yaml:14:31: environments.prod.after: environment 'qaa' is not defined — did you mean 'qa'?"
    ]
    assert problems(tmp_path, "  qa: {store: shelf}\n  prod: {store: shelf, after: staging}\n") == [
        "mlci.yaml:14:31: environments.prod.after: environment 'staging' is not defined"
        " — use one of environments: prod, qa"
    ]


def test_an_environment_after_itself_or_in_a_cycle_is_refused(tmp_path):
    assert problems(tmp_path, "  qa: {store: shelf, after: qa}\n") == [
        "mlci.yaml:13:29: environments.qa.after: environment 'qa' comes after itself, so nothing could ever be"
        " promoted to it — remove one `after`"
    ]
    got = problems(
        tmp_path,
        "  dev: {store: shelf}\n  qa: {store: shelf, after: prod}\n  prod: {store: shelf, after: qa}\n"
        "  edge: {store: shelf, after: prod}\n",
    )
    assert got == [
        "mlci.yaml:14:29: environments.qa.after: environment 'qa' comes after a cycle (qa → prod → qa), so nothing"
        " could ever be promoted to it — remove one `after`",
        "mlci.yaml:15:31: environments.prod.after: environment 'prod' comes after a cycle (prod → qa → prod), so"
        " nothing could ever be promoted to it — remove one `after`",
    ]


@pytest.mark.parametrize("value", ["Prod", "../qa", "qa\\n", "[qa]"])
def test_a_hostile_after_is_refused_at_the_value(tmp_path, value):
    got = problems(tmp_path, f'  qa: {{store: shelf}}\n  prod: {{store: shelf, after: "{value}"}}\n')
    assert len(got) == 1 and got[0].startswith("mlci.yaml:14:31: environments.prod.after:"), got
