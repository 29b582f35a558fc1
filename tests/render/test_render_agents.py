"""The agent layout: with hosts, no build runs in the controller's JVM container. The built-in node has
no executors; every host with the agent role — the controller's own host included — is a Jenkins SSH
agent that Ansible provisions (inventory group mlci_agents), reached from the container through
`host.docker.internal` (compose's host-gateway) for the controller's host. Without hosts (a stack
started by hand, nothing for Ansible to provision) the built-in node keeps its executors."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from render_support import SCENARIOS, by_path, parse

from mlci.render import plan


def _rendered(tmp_path: Path, scenario: str, **changes: object) -> dict:
    root = tmp_path / scenario
    shutil.copytree(SCENARIOS / scenario, root, ignore=shutil.ignore_patterns("expected"))
    data = yaml.safe_load((root / "mlci.yaml").read_text())
    data.update(changes)
    (root / "mlci.yaml").write_text(yaml.safe_dump(data))
    files = by_path(plan(root))
    return {
        "casc": parse(files["jenkins/casc.yaml"]),
        "compose": parse(files["compose/docker-compose.yml"]),
        "inventory": parse(files["ansible/inventory.yml"]),
        "plugins": files["jenkins/plugins.txt"].content,
    }


def _nodes(casc: dict) -> dict[str, dict]:
    return {n["permanent"]["name"]: n["permanent"] for n in casc["jenkins"].get("nodes", [])}


def test_the_controller_host_is_an_ssh_agent_to_itself_and_the_built_in_node_builds_nothing(tmp_path: Path) -> None:
    out = _rendered(tmp_path, "one-host")
    jenkins = out["casc"]["jenkins"]
    assert jenkins["numExecutors"] == 0 and jenkins["mode"] == "EXCLUSIVE"
    assert jenkins["labelString"] == ""  # `node('gpu-01')` (the approval's publish) means the agent
    assert "nodeProperties" not in jenkins  # no MLCI_HOST: nothing of mlci runs there
    node = _nodes(out["casc"])["gpu-01"]
    ssh = node["launcher"]["ssh"]
    assert (ssh["host"], ssh["port"], ssh["credentialsId"]) == ("host.docker.internal", 22, "JENKINS_AGENT_SSH_KEY")
    assert node["numExecutors"] == 2 and node["labelString"] == "gpu-01 mlci docker gpu"
    assert node["remoteFS"] == "/srv/mlci/agent"
    env = {e["key"]: e["value"] for e in node["nodeProperties"][0]["envVars"]["env"]}
    assert env["MLCI_HOST"] == "gpu-01"
    # the container resolves that name to the host, whatever hosts[].address is
    jenkins_service = out["compose"]["services"]["jenkins"]
    assert jenkins_service["extra_hosts"] == ["host.docker.internal:host-gateway"]
    assert "JENKINS_AGENT_SSH_KEY" in jenkins_service["secrets"]
    assert "ssh-slaves:" in out["plugins"]
    # Ansible makes it an agent like any other
    children = out["inventory"]["all"]["children"]
    assert list(children["mlci_agents"]["hosts"]) == ["gpu-01"] == list(children["mlci_controllers"]["hosts"])
    # its GPUs are leased on the agent
    resources = out["casc"]["unclassified"]["lockableResourcesManager"]["declaredResources"]
    assert {r["labels"] for r in resources} == {"gpu@gpu-01"}


def test_the_controller_s_ssh_port_is_the_one_ansible_uses(tmp_path: Path) -> None:
    hosts = [
        {"name": "gpu-01", "address": "203.0.113.9", "ssh_port": 2202, "gpus": 1, "roles": ["controller", "agent"]}
    ]
    out = _rendered(tmp_path, "one-host", hosts=hosts)
    assert _nodes(out["casc"])["gpu-01"]["launcher"]["ssh"]["port"] == 2202


def test_a_controller_without_the_agent_role_is_no_agent_and_needs_no_host_gateway(tmp_path: Path) -> None:
    out = _rendered(tmp_path, "three-hosts")
    jenkins = out["casc"]["jenkins"]
    assert jenkins["numExecutors"] == 0 and jenkins["labelString"] == "ctl"
    nodes = _nodes(out["casc"])
    assert set(nodes) == {"gpu-a", "gpu-b"}
    assert nodes["gpu-a"]["launcher"]["ssh"]["host"] == "10.0.0.11"  # other hosts by their address
    assert "extra_hosts" not in out["compose"]["services"]["jenkins"]
    assert "ctl" not in out["inventory"]["all"]["children"]["mlci_agents"]["hosts"]


def test_without_hosts_the_built_in_node_builds(tmp_path: Path) -> None:
    # A stack started by hand with compose: there is no host for Ansible to make an agent of.
    out = _rendered(tmp_path, "no-frp")
    jenkins = out["casc"]["jenkins"]
    assert (jenkins["numExecutors"], jenkins["mode"], jenkins["labelString"]) == (1, "NORMAL", "mlci docker")
    env = {e["key"]: e["value"] for e in jenkins["nodeProperties"][0]["envVars"]["env"]}
    assert env["MLCI_HOST"] == "built-in"
    assert "nodes" not in jenkins
    assert "extra_hosts" not in out["compose"]["services"]["jenkins"]
    assert "ssh-slaves:" not in out["plugins"]


def test_local_stores_are_mounted_in_the_controller_only_where_it_builds(tmp_path: Path) -> None:
    stores = {"default": "local", "stores": {"local": {"type": "local", "path": "/data/models"}}}
    hosted = _rendered(tmp_path / "a", "one-host", artifacts=stores)["compose"]["services"]["jenkins"]["volumes"]
    alone = _rendered(tmp_path / "b", "no-frp", artifacts=stores)["compose"]["services"]["jenkins"]["volumes"]
    assert "/data/models:/data/models" not in hosted
    assert "/data/models:/data/models" in alone


def test_the_jenkins_user_s_home_is_a_named_volume(tmp_path: Path) -> None:
    # The image's HOME (/var/jenkins_home) is a VOLUME: anonymous, it would be a new empty one after
    # `docker rm` + up, losing registry logins and git config of the controller's own steps.
    for scenario in ("one-host", "no-frp"):
        compose = _rendered(tmp_path / scenario, scenario)["compose"]
        assert "jenkins_user_home:/var/jenkins_home" in compose["services"]["jenkins"]["volumes"]
        assert compose["volumes"]["jenkins_user_home"] == {}
