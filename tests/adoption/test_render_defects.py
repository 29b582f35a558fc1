"""What a team's deployment needs from the rendered files, one test each.

Fast (no Docker): the rendered files are parsed and checked for what a team's deployment needs.
The end-to-end proof in a scratch monorepo is tests/adoption/test_adoption.py.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from mlci import __version__
from mlci.cli import main
from mlci.errors import ConfigError
from mlci.render import plan
from mlci.render.trees import library_files

TEAM_MANIFEST = """\
version: 1
name: team
mlci: {version: @VERSION@, index_url: "https://pypi.team.example/simple/"}
repository: {url: https://git.team.example/ml.git, credentials: GIT_TOKEN}
hosts:
  - {name: gpu-01, address: 192.0.2.10, gpus: 2}
jenkins: {url: "https://jenkins.internal.team.example/"}
webhook: {frp: {server: frps.team.example, custom_domain: hooks.team.example}}
build: {ca_bundle: certs/corp-ca.pem}
artifacts:
  default: s3
  stores:
    s3: {type: s3, bucket: team-models, access_key_id: AWS_ACCESS_KEY_ID, secret_access_key: AWS_SECRET}
    hub: {type: huggingface, repo: team/models, token: HF_TOKEN}
"""


# Without the pin (a key new with this issue), so each test below fails on the defect itself.
UNPINNED = TEAM_MANIFEST.replace('mlci: {version: @VERSION@, index_url: "https://pypi.team.example/simple/"}\n', "")


def team_repo(tmp_path: Path, manifest: str = TEAM_MANIFEST) -> Path:
    """A monorepo that is not mlci's: its own pyproject.toml, Makefile and source."""
    root = tmp_path / "team"
    (root / "src" / "team").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "team-app"\nversion = "3.0"\n')
    (root / "Makefile").write_text("all:\n\ttrue\n")
    (root / "src" / "team" / "__init__.py").write_text("")
    (root / "mlci.yaml").write_text(manifest.replace("@VERSION@", __version__))
    return root


def rendered(root: Path) -> dict[str, str]:
    return {f.path: f.content for f in plan(root)}


def test_controller_image_installs_the_pinned_mlci_with_store_extras_not_the_teams_project(tmp_path: Path) -> None:
    files = rendered(team_repo(tmp_path))
    dockerfile = files["jenkins/Dockerfile"]
    assert "pyproject.toml" not in dockerfile and "COPY mlci" not in dockerfile
    (install,) = [line for line in dockerfile.splitlines() if "/opt/mlci/bin/pip install" in line]
    words = shlex.split(install.lstrip(" &"))
    assert words[-1] == f"mlci[hub,jenkins,s3]=={__version__}"
    assert words[words.index("--index-url") + 1] == "https://pypi.team.example/simple/"
    # build.ca_bundle is trusted by pip and git in the image, and admitted into the build context
    assert "COPY ca-bundle.crt " in dockerfile and "PIP_CERT=" in dockerfile
    assert "!ca-bundle.crt" in files["jenkins/.dockerignore"].splitlines()
    group_vars = yaml.safe_load(files["ansible/group_vars/all.yml"])
    assert group_vars["mlci_ca_bundle"] == "certs/corp-ca.pem" and group_vars["mlci_version"] == __version__


def test_controller_build_context_is_jenkins_alone_for_every_compose(tmp_path: Path) -> None:
    files = rendered(team_repo(tmp_path, UNPINNED))
    build = yaml.safe_load(files["compose/docker-compose.yml"])["services"]["jenkins"]["build"]
    # compose v1 ignores <Dockerfile>.dockerignore: the context must be a directory whose own
    # .dockerignore admits only the image's inputs
    assert build["context"] == "../jenkins" and build["dockerfile"] == "Dockerfile"
    assert "jenkins/Dockerfile.dockerignore" not in files
    assert files["jenkins/.dockerignore"].splitlines()[1:] == [
        "*",
        "!plugins.txt",
        "!casc.yaml",
        "!install-plugins.sh",
        "!ca-bundle.crt",
    ]
    assert set(build["args"]) == {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"}


def test_base_images_are_build_arguments(tmp_path: Path) -> None:
    dockerfile = rendered(team_repo(tmp_path, UNPINNED))["jenkins/Dockerfile"]
    froms = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert froms == ["FROM ${DOCKER_CLI_IMAGE} AS docker-cli", "FROM ${JENKINS_IMAGE}"]


def test_ci_installs_the_pinned_version_from_the_manifests_index(tmp_path: Path) -> None:
    ci = yaml.safe_load(rendered(team_repo(tmp_path))[".github/workflows/ci.yml"])
    (install,) = [s["run"] for s in ci["jobs"]["checks"]["steps"] if s.get("name") == "Install"]
    words = shlex.split(install)
    assert f"mlci=={__version__}" in words
    assert words[words.index("--index-url") + 1] == "https://pypi.team.example/simple/"


def test_portainer_gets_its_admin_password_from_a_secret(tmp_path: Path) -> None:
    files = rendered(team_repo(tmp_path, UNPINNED))
    compose = yaml.safe_load(files["compose/docker-compose.yml"])
    portainer = compose["services"]["portainer"]
    command = portainer["command"]
    assert command[command.index("--admin-password-file") + 1] == "/run/secrets/PORTAINER_ADMIN_PASSWORD"
    assert portainer["secrets"] == ["PORTAINER_ADMIN_PASSWORD"]
    assert compose["secrets"]["PORTAINER_ADMIN_PASSWORD"] == {"file": "../secrets/PORTAINER_ADMIN_PASSWORD"}
    secrets = yaml.safe_load(files["ansible/group_vars/all.yml"])["mlci_secrets"]
    assert {"name": "PORTAINER_ADMIN_PASSWORD", "service": "portainer", "owner_uid": 0} in secrets


def test_bind_addresses_are_settings(tmp_path: Path) -> None:
    manifest = TEAM_MANIFEST.replace(
        'jenkins: {url: "https://jenkins.internal.team.example/"}', "jenkins: {bind: 10.1.2.3}"
    )
    manifest += "portainer: {bind: '::1', port: 9000}\n"
    compose = yaml.safe_load(rendered(team_repo(tmp_path, manifest))["compose/docker-compose.yml"])
    assert compose["services"]["jenkins"]["ports"] == ["10.1.2.3:8080:8080"]
    assert compose["services"]["portainer"]["ports"] == ["[::1]:9000:9443"]


def test_validate_warns_about_a_lan_bind_and_a_different_mlci(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    manifest = TEAM_MANIFEST.replace("@VERSION@", "0.0.1").replace(
        'jenkins: {url: "https://jenkins.internal.team.example/"}', "jenkins: {bind: 10.1.2.3}"
    )
    root = team_repo(tmp_path, manifest)
    assert main(["--root", str(root), "validate"]) == 0
    err = capsys.readouterr().err
    assert f"mlci.yaml:3:17: mlci.version: mlci.yaml pins mlci 0.0.1 but this is mlci {__version__}" in err
    assert "jenkins.bind: jenkins is published on 10.1.2.3" in err


def test_the_webhook_has_its_own_domain_and_jenkins_url_stays_internal(tmp_path: Path) -> None:
    files = rendered(team_repo(tmp_path, UNPINNED))
    assert 'customDomains = ["hooks.team.example"]' in files["compose/frpc.toml"]
    casc = yaml.safe_load(files["jenkins/casc.yaml"])
    assert casc["unclassified"]["location"]["url"] == "https://jenkins.internal.team.example/"
    frps = files["compose/frps.example.toml"]
    assert "vhostHTTPPort = 8080" in frps and "bindPort = 7000" in frps
    same = TEAM_MANIFEST.replace("hooks.team.example", "jenkins.internal.team.example")
    with pytest.raises(
        ConfigError, match=re.escape("webhook.frp.custom_domain: 'jenkins.internal.team.example' is also")
    ):
        plan(team_repo(tmp_path / "same", same))


@pytest.mark.parametrize(
    ("repository", "error"),
    [
        ("{url: 'git@git.team.example:ml/repo.git', credentials: GIT_TOKEN}", "a token (`credentials:`) cannot"),
        ("{url: 'git@git.team.example:ml/repo.git', ssh_key: GIT_KEY}", "an SSH URL needs `host_key_policy:`"),
        ("{url: 'ssh://git@git.team.example/ml.git', host_key_policy: accept_first}", "authenticates with a key"),
        ("{url: 'https://git.team.example/ml.git', ssh_key: GIT_KEY}", "apply to SSH URLs only"),
    ],
)
def test_credentials_must_fit_the_repository_url(tmp_path: Path, repository: str, error: str) -> None:
    manifest = TEAM_MANIFEST.replace("{url: https://git.team.example/ml.git, credentials: GIT_TOKEN}", repository)
    with pytest.raises(ConfigError, match=re.escape(error)):
        plan(team_repo(tmp_path, manifest))


def test_an_ssh_repository_gets_a_key_credential_and_a_host_key_policy(tmp_path: Path) -> None:
    manifest = TEAM_MANIFEST.replace(
        "{url: https://git.team.example/ml.git, credentials: GIT_TOKEN}",
        "{url: 'git@git.team.example:ml/repo.git', ssh_key: GIT_KEY, host_key_policy: accept_first}",
    )
    casc = yaml.safe_load(rendered(team_repo(tmp_path, manifest))["jenkins/casc.yaml"])
    creds = casc["credentials"]["system"]["domainCredentials"][0]["credentials"]
    keys = {
        c["basicSSHUserPrivateKey"]["id"]: c["basicSSHUserPrivateKey"] for c in creds if "basicSSHUserPrivateKey" in c
    }
    assert set(keys) == {
        "GIT_KEY",
        "JENKINS_AGENT_SSH_KEY",
    }  # the repository's, and the agents' (the controller's host too)
    key = keys["GIT_KEY"]
    assert (
        key["id"] == "GIT_KEY"
        and key["scope"] == "GLOBAL"
        and key["privateKeySource"]["directEntry"]["privateKey"] == "${GIT_KEY}"
    )
    git = casc["unclassified"]["globalLibraries"]["libraries"][0]["retriever"]["modernSCM"]["scm"]["git"]
    assert git["credentialsId"] == "GIT_KEY"
    strategy = casc["security"]["gitHostKeyVerificationConfiguration"]["sshHostKeyVerificationStrategy"]
    assert strategy == "acceptFirstConnectionStrategy"


def test_a_manifest_without_hosts_never_waits_for_a_gpu_lock(tmp_path: Path) -> None:
    root = tmp_path / "solo"
    (root / "projects" / "p").mkdir(parents=True)
    (root / "projects" / "p" / "project.yaml").write_text("gpus: auto\n")
    (root / "mlci.yaml").write_text("version: 1\nname: solo\nrepository: {url: https://git.example/solo.git}\n")
    plugins = rendered(root)["jenkins/plugins.txt"]
    assert any(line.startswith("lockable-resources:") for line in plugins.splitlines())  # `lock` always loads
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    from mlci.release.affected import plan as release_plan

    # the built-in node has 0 GPUs in the plan: the library runs `auto` without a lock, never waits
    planned = release_plan(root, None, "HEAD")
    assert planned.host_gpus == {"built-in": 0}
    assert [p.gpu_node for p in planned.projects] == [False]


def test_without_hosts_a_gpu_project_never_waits_for_a_gpu_node(tmp_path: Path) -> None:
    """No hosts: no node has the `gpu` label; the project runs on the built-in node, where the library
    fails it at once (0 GPUs there) instead of queueing for a node that never comes."""
    root = tmp_path / "solo"
    (root / "projects" / "p").mkdir(parents=True)
    (root / "projects" / "p" / "project.yaml").write_text("gpus: 1\n")
    (root / "mlci.yaml").write_text("version: 1\nname: solo\nrepository: {url: https://git.example/solo.git}\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    from mlci.release.affected import plan as release_plan

    planned = release_plan(root, None, "HEAD")
    assert planned.host_gpus == {"built-in": 0}
    assert [(p.gpus, p.gpu_node) for p in planned.projects] == [(1, False)]


def test_release_trigger_runs_never_share_a_concurrency_group(tmp_path: Path) -> None:
    workflow = yaml.safe_load(rendered(team_repo(tmp_path, UNPINNED))[".github/workflows/release-trigger.yml"])
    assert workflow["concurrency"]["group"].endswith("${{ github.event.pull_request.number }}")
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_the_shared_library_is_rendered_into_a_teams_repo_and_checked(tmp_path: Path) -> None:
    root = team_repo(tmp_path)
    files = rendered(root)
    packaged = library_files()
    assert "vars/mlciRelease.groovy" in packaged
    for rel, text in packaged.items():
        content = files[f"jenkins/library/{rel}"]
        assert content.endswith(text)
        if rel.endswith(".groovy"):
            assert content.startswith("// generated by mlci") and f"mlci {__version__}" in content.splitlines()[0]
    library = yaml.safe_load(files["jenkins/casc.yaml"])["unclassified"]["globalLibraries"]["libraries"][0]
    assert library["retriever"]["modernSCM"]["libraryPath"] == "jenkins/library/"
    assert main(["--root", str(root), "render"]) == 0
    (root / "jenkins/library/vars/mlciRelease.groovy").write_text("// edited by hand\n")
    assert main(["--root", str(root), "render", "--check"]) == 1  # drift from the pinned library fails CI


# Every pipeline step a library could call → the plugin that provides it (core steps: None). A step
# the library calls that is missing here fails the test below, so a new step cannot slip by.
STEP_PLUGINS = {
    "sh": "workflow-aggregator",  # workflow-durable-task-step
    "node": "workflow-aggregator",
    "stage": "workflow-aggregator",
    "parallel": "workflow-aggregator",
    "timeout": "workflow-aggregator",
    "error": "workflow-aggregator",
    "unstable": "workflow-aggregator",
    "echo": "workflow-aggregator",
    "readFile": "workflow-aggregator",
    "writeFile": "workflow-aggregator",
    "fileExists": "workflow-aggregator",
    "input": "workflow-aggregator",  # pipeline-input-step
    "checkout": "git",  # scm is a GitSCM: the git plugin
    "lock": "lockable-resources",
    "junit": "junit",
    "withCredentials": "credentials-binding",
    "string": "plain-credentials",  # withCredentials([string(...)])
    "stash": "workflow-aggregator",  # workflow-basic-steps
    "unstash": "workflow-aggregator",
    "waitUntil": "workflow-aggregator",
    "archiveArtifacts": None,
}
GROOVY_BUILTINS = {"call", "body", "add", "join", "size", "trim", "toString", "isEmpty", "parse", "label"}


def library_steps() -> set[str]:
    """Names called as `name(` at the start of an expression in the library's vars/ — minus its own
    methods and Groovy/Java methods (called after a dot)."""
    files = library_files()
    own = {rel.split("/")[-1].removesuffix(".groovy") for rel in files if rel.startswith("vars/")}
    defined = set()
    called = set()
    for rel, text in files.items():
        if not rel.endswith(".groovy"):
            continue
        defined |= set(
            re.findall(
                r"^[ \t]*(?:(?:static|private|public)[ \t]+)*(?!return\b|new\b|throw\b)[A-Za-z][\w<>\[\],]*[ \t]+(\w+)[ \t]*\(",
                text,
                re.M,
            )
        )
        # a call starts a statement or an expression (not a word in a string such as "attempt(s)")
        called |= set(re.findall(r"(?:(?:^|[=({,;!&|?:])[ \t]*|\b(?:return|in)[ \t]+)([a-z]\w*)\(", text, re.M))
    return called - own - defined - GROOVY_BUILTINS - {"if", "for", "while", "switch", "catch", "return"}


@pytest.mark.parametrize("scenario", ["no-frp", "one-host", "stores", "three-hosts"])
def test_plugins_txt_covers_every_step_the_library_calls(scenario: str) -> None:
    steps = library_steps()
    unknown = sorted(steps - set(STEP_PLUGINS))
    assert not unknown, f"the library calls steps this table does not know: {unknown} — add them with their plugin"
    files = rendered(Path(__file__).resolve().parents[1] / "render" / "scenarios" / scenario)
    plugins = {line.split(":")[0] for line in files["jenkins/plugins.txt"].splitlines() if not line.startswith("#")}
    needed = {STEP_PLUGINS[s] for s in steps} - {None}
    assert needed <= plugins, f"plugins.txt lacks {sorted(needed - plugins)}"


def test_render_refuses_when_the_running_mlci_is_not_the_pinned_one(tmp_path: Path) -> None:
    """The library and playbook it writes are the running mlci's: a different pin would mix versions."""
    root = team_repo(tmp_path, TEAM_MANIFEST.replace("@VERSION@", "0.0.1"))
    with pytest.raises(ConfigError) as caught:
        plan(root)
    assert str(caught.value).startswith("mlci.yaml:3:17: mlci.version: pins mlci 0.0.1 but this is mlci")
