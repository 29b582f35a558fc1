"""Sidecar services on the real engine: the drive-sim example end to end, a service network that is
internal with nothing published, a service that never gets healthy (the attempt fails, no retrain),
and a SIGKILL'd mlci whose services and network the next run removes."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, commit_all, mlci, write_project

pytestmark = pytest.mark.docker


def leftovers(docker_client, project: str) -> tuple[list, list]:
    label = {"label": [f"mlci.project={project}"]}
    return docker_client.api.containers(all=True, filters=label), docker_client.api.networks(filters=label)


def record(root: Path, project: str, job: str) -> dict:
    return json.loads((root / ".mlci/runs" / project / job / "status.json").read_text())


def test_drive_sim_passes_on_the_second_attempt_with_its_simulator_beside_it(monorepo, base_image, docker_client):
    shutil.copytree(REPO / "projects" / "drive-sim", monorepo / "projects" / "drive-sim")
    commit_all(monorepo)
    result = mlci(monorepo, "run", "drive-sim", "--job-id", "sim-1")
    assert result.returncode == 0, result.stdout + result.stderr
    data = record(monorepo, "drive-sim", "sim-1")
    assert data["overallStatus"] == "Succeeded"
    assert [a["status"] for a in data["attempts"]] == ["Failed", "Succeeded"]  # the gate failed attempt 1
    assert data["attempts"][0]["metrics"]["ng"] > 0 and data["attempts"][1]["metrics"]["ng"] == 0
    simulate = next(s for s in data["attempts"][1]["stages"] if s["name"] == "simulate")
    assert [(s["name"], s["status"]) for s in simulate["services"]] == [("simulator", "Removed")]
    service_log = monorepo / ".mlci/runs/drive-sim/sim-1" / simulate["services"][0]["log"]
    assert "POST /drive" in service_log.read_text()  # the simulator's own output, kept in the record
    assert "learns from" in result.stdout + result.stderr  # attempt 2 read attempt 1 at /mlci/previous
    assert leftovers(docker_client, "drive-sim") == ([], [])


SLOW_SERVICE = """\
    gpus: none
    stages:
      - name: probe
        run: python3 probe.py
        services:
          web:
            image: project:{name}
            command: python3 -m http.server 8000
            health: {{cmd: "python3 -c 'import urllib.request as u; u.urlopen(\\"http://127.0.0.1:8000/\\")'", interval: 1s}}
    gate: {{metric: reached, min: 1}}
"""


def probe(hold_s: int = 0) -> str:
    """Reach the service by its name, hold the stage a while, report."""
    return (
        "import json, time, urllib.request\n"
        'body = urllib.request.urlopen("http://web:8000/", timeout=10).read()\n'
        f"time.sleep({hold_s})\n"
        'json.dump({"reached": 1 if body else 0}, open("/mlci/out/metrics.json", "w"))\n'
    )


def test_the_service_network_is_internal_and_nothing_is_published(monorepo, base_image, docker_client):
    write_project(monorepo, "netcheck", SLOW_SERVICE.format(name="netcheck"), files={"probe.py": probe(6)})
    commit_all(monorepo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(monorepo), "run", "netcheck", "--job-id", "net-1", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            containers, networks = leftovers(docker_client, "netcheck")
            stage = [c for c in containers if "mlci.sidecar" not in (c.get("Labels") or {})]
            if networks and stage and stage[0]["State"] == "running":
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        else:
            raise AssertionError("the stage never ran beside its service")
        (network,) = networks
        details = docker_client.api.inspect_network(network["Id"])
        assert details["Internal"] is True  # no route out of the service network
        for info in containers:
            inspected = docker_client.api.inspect_container(info["Id"])
            assert not inspected["HostConfig"]["PortBindings"]
            assert not inspected["HostConfig"]["PublishAllPorts"]
    finally:
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert record(monorepo, "netcheck", "net-1")["overallStatus"] == "Succeeded"
    assert leftovers(docker_client, "netcheck") == ([], [])


NEVER_HEALTHY = """\
    gpus: none
    stages:
      - name: probe
        run: 'echo never reached'
        services:
          web:
            image: project:sick
            command: sh -c 'echo booting the simulator; sleep 300'
            health: {cmd: 'false', interval: 1s}
            start_timeout: 3s
    gate: {metric: reached, min: 1}
    retrain: {max_attempts: 3}
"""


def test_a_service_that_never_gets_healthy_fails_the_attempt_without_retraining(monorepo, base_image, docker_client):
    write_project(monorepo, "sick", NEVER_HEALTHY)
    commit_all(monorepo)
    result = mlci(monorepo, "run", "sick", "--job-id", "sick-1")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "service web not healthy after 3s" in output
    assert "booting the simulator" in output  # the tail of the service's log, in the error
    data = record(monorepo, "sick", "sick-1")
    assert data["overallStatus"] == "Failed"
    assert len(data["attempts"]) == 1  # a broken service is not a model to retrain
    (stage,) = data["attempts"][0]["stages"]
    assert stage["services"][0]["status"] == "Unhealthy"
    assert leftovers(docker_client, "sick") == ([], [])


def test_services_and_network_of_a_killed_run_are_removed_by_the_next_run(monorepo, base_image, docker_client):
    write_project(monorepo, "killed", SLOW_SERVICE.format(name="killed"), files={"probe.py": probe(300)})
    commit_all(monorepo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(monorepo), "run", "killed", "--job-id", "kill-1", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(leftovers(docker_client, "killed")[0]) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    containers, networks = leftovers(docker_client, "killed")
    assert len(containers) == 2 and len(networks) == 1  # nobody cleaned up after a SIGKILL
    (monorepo / "projects/killed/probe.py").write_text(probe())
    commit_all(monorepo)
    result = mlci(monorepo, "run", "killed", "--job-id", "kill-2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leftover service network" in result.stdout + result.stderr
    assert record(monorepo, "killed", "kill-1")["overallStatus"] == "Interrupted"
    assert leftovers(docker_client, "killed") == ([], [])


ENDINGS = """\
    gpus: none
    timeout: {timeout}
    stages:
      - name: probe
        run: "{run}"
        services:
          web:
            image: project:{name}
            command: sh -c 'echo serving; exec sleep 600'
    gate: {{metric: reached, min: 1}}
    retrain: {{max_attempts: 2}}
"""


@pytest.mark.parametrize(
    ("ending", "run", "timeout", "status"),
    [
        ("fails", "echo started; exit 3", "60s", "Failed"),
        ("times-out", "echo started; sleep 600", "3s", "Timed Out"),
        ("cancelled", "echo started; sleep 600", "10m", "Cancelled"),
    ],
)
def test_services_and_network_go_whatever_ends_the_stage(
    monorepo, base_image, docker_client, ending, run, timeout, status
):
    name = f"end-{ending}"
    write_project(monorepo, name, ENDINGS.format(name=name, run=run, timeout=timeout))
    commit_all(monorepo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(monorepo), "run", name, "--job-id", "j1", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if ending == "cancelled":  # how Jenkins aborts a step: SIGTERM, once the stage runs beside its service
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(leftovers(docker_client, name)[0]) < 2:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode != 0
    data = record(monorepo, name, "j1")
    (stage,) = data["attempts"][0]["stages"]
    assert stage["status"] == status, out + err
    assert len(data["attempts"]) == 1  # a failed stage is not a failed gate: no retrain
    (service,) = stage["services"]
    assert "serving" in (monorepo / ".mlci/runs" / name / "j1" / service["log"]).read_text()
    assert leftovers(docker_client, name) == ([], [])


def test_per_stage_gpu_requests_as_the_engine_stored_them(monorepo, base_image, docker_client):
    """A CPU stage before a GPU stage: the first has no device request at all, the second carries the
    project's (this engine has no NVIDIA runtime, so the GPU stage's container is created, its stored
    request read back, and its start refused)."""
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime: the GPU suite covers it")
    write_project(
        monorepo,
        "mixed",
        "gpus: all\nstages:\n  - {name: prepare, run: 'echo cpu', gpus: none}\n  - {name: train, run: nvidia-smi}\n",
    )
    commit_all(monorepo)
    result = mlci(monorepo, "run", "mixed", "--job-id", "m1")
    assert result.returncode == 1 and "GPUs were requested (all)" in result.stderr
    prepare, train = record(monorepo, "mixed", "m1")["attempts"][0]["stages"]
    assert prepare["status"] == "Succeeded" and prepare["deviceRequests"] is None
    assert train["deviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
