"""Run records on the host, not in the job workspace: every node Jenkins builds on gets
MLCI_RUNS_DIR = jenkins.runs_dir, the controller mounts it at the same path (stage containers are
started on the host's engine with host paths), Ansible creates it; a relative local store, which on
Jenkins would land in the workspace, makes `mlci validate` warn."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from render_support import SCENARIOS, by_path, parse, scenario_dirs

from mlci.cli import cli
from mlci.errors import ConfigError
from mlci.render import load_for_render, plan

OK = scenario_dirs("ok")


def _node_env(node_properties: list) -> dict[str, str]:
    [prop] = node_properties
    return {e["key"]: e["value"] for e in prop["envVars"]["env"]}


@pytest.mark.parametrize("scenario", OK, ids=[p.name for p in OK])
def test_every_build_node_and_the_controller_container_see_the_runs_dir(scenario: Path) -> None:
    facts = load_for_render(scenario)
    runs = facts.manifest.jenkins.runs_dir
    files = by_path(plan(scenario))
    casc = parse(files["jenkins/casc.yaml"])["jenkins"]
    envs = [_node_env(n["permanent"]["nodeProperties"]) for n in casc.get("nodes", [])]
    if facts.controller_runs_builds:
        envs.append(_node_env(casc["nodeProperties"]))
    assert envs and all(env["MLCI_RUNS_DIR"] == runs for env in envs)
    jenkins = parse(files["compose/docker-compose.yml"])["services"]["jenkins"]
    assert jenkins["environment"]["MLCI_RUNS_DIR"] == runs and f"{runs}:{runs}" in jenkins["volumes"]
    assert parse(files["ansible/group_vars/all.yml"])["mlci_runs_dir"] == runs


def _with_runs_dir(tmp_path: Path, name: str, runs_dir: str) -> Path:
    scenario = tmp_path / "s"
    shutil.copytree(SCENARIOS / name, scenario, ignore=shutil.ignore_patterns("expected"))
    manifest = scenario / "mlci.yaml"
    data = yaml.safe_load(manifest.read_text())
    data.setdefault("jenkins", {})["runs_dir"] = runs_dir
    manifest.write_text(yaml.safe_dump(data))
    return scenario


def test_runs_dir_is_configurable(tmp_path: Path) -> None:
    scenario = _with_runs_dir(tmp_path, "three-hosts", "/data/mlci-runs")
    files = by_path(plan(scenario))
    nodes = parse(files["jenkins/casc.yaml"])["jenkins"]["nodes"]
    assert {_node_env(n["permanent"]["nodeProperties"])["MLCI_RUNS_DIR"] for n in nodes} == {"/data/mlci-runs"}
    assert (
        "/data/mlci-runs:/data/mlci-runs"
        in parse(files["compose/docker-compose.yml"])["services"]["jenkins"]["volumes"]
    )


@pytest.mark.parametrize("value", ["runs", "/", "/srv/../etc"])
def test_a_relative_runs_dir_is_refused(tmp_path: Path, value: str) -> None:
    scenario = _with_runs_dir(tmp_path, "one-host", value)
    with pytest.raises(ConfigError) as err:
        plan(scenario)
    assert f"jenkins.runs_dir: must be an absolute path below / (got {value!r}) — e.g. /srv/mlci/runs" in str(err.value)


def _validate(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--root", str(root), "validate"])
    return result.exit_code, result.output


def _repo(tmp_path: Path, manifest: str) -> Path:
    root = tmp_path / "repo"
    (root / "projects").mkdir(parents=True)
    (root / "mlci.yaml").write_text(manifest)
    return root


HOSTED = (
    "version: 1\nname: t\nrepository: {url: https://git.example.com/t.git}\nhosts: [{name: h, address: 10.0.0.1}]\n"
)


def test_validate_warns_about_a_relative_local_store_on_hosts(tmp_path: Path) -> None:
    root = _repo(tmp_path, HOSTED + "artifacts:\n  stores:\n    local: {type: local, path: .mlci/artifacts}\n")
    code, out = _validate(root)
    assert code == 0
    assert (
        "warning: mlci.yaml:7:32: artifacts.stores.local.path: the local store 'local' has the relative path"
        " '.mlci/artifacts': on Jenkins it resolves inside the job's workspace" in out
    )
    assert "such as /srv/mlci/artifacts" in out


def test_validate_warns_about_the_implicit_default_store_too(tmp_path: Path) -> None:
    code, out = _validate(_repo(tmp_path, HOSTED))
    assert code == 0 and "warning: mlci.yaml:1:1: artifacts.stores.local.path: the local store 'local'" in out


@pytest.mark.parametrize(
    "manifest",
    [
        HOSTED + "artifacts:\n  stores:\n    local: {type: local, path: /srv/mlci/artifacts}\n",
        # no hosts: a laptop, where the checkout is the place
        "version: 1\nname: t\n",
    ],
)
def test_no_store_warning_for_an_absolute_path_or_without_hosts(tmp_path: Path, manifest: str) -> None:
    code, out = _validate(_repo(tmp_path, manifest))
    assert code == 0 and "local store" not in out


def _with_stores(tmp_path: Path, stores: dict) -> Path:
    scenario = tmp_path / "s"
    shutil.copytree(SCENARIOS / "one-host", scenario, ignore=shutil.ignore_patterns("expected"))
    manifest = scenario / "mlci.yaml"
    data = yaml.safe_load(manifest.read_text())
    data["artifacts"] = {"default": sorted(stores)[0], "stores": stores}
    manifest.write_text(yaml.safe_dump(data))
    return scenario


def test_absolute_local_stores_are_created_by_ansible_on_agents_not_mounted_in_the_controller(tmp_path: Path) -> None:
    # With hosts every build, and so every publish, runs on an SSH agent (the controller's host too):
    # the controller's container never writes a store, so it does not mount one.
    scenario = _with_stores(
        tmp_path,
        {
            "a": {"type": "local", "path": "/srv/mlci/artifacts/"},
            "b": {"type": "local", "path": "/data/models"},
            "rel": {"type": "local", "path": "scratch"},  # the workspace: nothing to mount (validate warns)
        },
    )
    files = by_path(plan(scenario))
    volumes = parse(files["compose/docker-compose.yml"])["services"]["jenkins"]["volumes"]
    assert not any(v.startswith(("/srv/mlci/artifacts", "/data/models", "scratch")) for v in volumes)
    assert parse(files["ansible/group_vars/all.yml"])["mlci_local_store_dirs"] == [
        "/data/models",
        "/srv/mlci/artifacts",
    ]


@pytest.mark.parametrize("path", ["/", "/srv/../etc", "../artifacts"])
def test_a_local_store_path_that_walks_or_is_the_root_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(ConfigError) as err:
        plan(_with_stores(tmp_path, {"local": {"type": "local", "path": path}}))
    assert f"artifacts.stores.local.path: must be a directory without '..', not / (got {path!r})" in str(err.value)
