"""`mlci deploy` on the real engine with the digits example: v1 serves predictions, v2 replaces it by a
healthy swap, a broken v3 fails with its log saved while v2 keeps serving, rollback to v1; the labels,
mounts, restart policy and health check read back from the engine; a published host port; what an
interrupted deploy left is put right; two deploys of one service never interleave."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest

from mlci.atomic import exclusive_lock
from mlci.deploy.container import Names
from mlci.deploy.swap import lock_path
from tests.deploy.conftest import SECRET_NAME, SECRET_VALUE, ask, serve_settings, serving, undeploy

pytestmark = pytest.mark.docker

DIGIT_ZERO = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4, 12, 0, 0, 8, 8, 0]
DIGIT_ZERO += [0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]


def leftovers(docker_client, scratch) -> list[str]:
    names = Names.of(scratch.env, "digits")
    found = docker_client.api.containers(all=True, filters={"label": [f"mlci.env={scratch.env}"]})
    return sorted(n.lstrip("/") for info in found for n in info["Names"] if n.lstrip("/") != names.serving)


def test_deploy_swap_fail_and_roll_back(scratch, docker_client):
    undeploy(docker_client, scratch)
    first = scratch.deploy("--version", "v1", "--by", "carol")
    assert first.returncode == 0, first.stderr
    assert f"✓ deployed digits v1 to {scratch.env} as {scratch.name}" in first.stdout
    assert "is healthy" in first.stderr  # progress of the health check
    answer = ask(docker_client, scratch, "/predict", {"instances": [DIGIT_ZERO]})
    assert answer == {"predictions": [0], "version": "v1"}

    info = serving(docker_client, scratch)
    labels = info["Config"]["Labels"]
    assert {k: labels[k] for k in ("mlci.serve", "mlci.project", "mlci.env", "mlci.version", "mlci.job")} == {
        "mlci.serve": "1",
        "mlci.project": "digits",
        "mlci.env": scratch.env,
        "mlci.version": "v1",
        "mlci.job": "j1",
    }
    assert labels["mlci.deployed-by"] == "carol" and labels["mlci.deployed-at"].endswith("Z")
    assert labels["com.docker.compose.project"] == scratch.network  # Portainer's "Stack" column
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    [mount] = [m for m in info["Mounts"] if m["Destination"] == "/mlci/model"]
    assert mount["RW"] is False and mount["Source"].endswith("/.mlci/artifacts/digits/j1")
    assert info["Config"]["Healthcheck"]["Test"][0] == "CMD-SHELL"
    assert ":8080/health" in info["Config"]["Healthcheck"]["Test"][1]
    env = dict(v.split("=", 1) for v in info["Config"]["Env"])
    assert env["MLCI_MODEL_DIR"] == "/mlci/model" and env["MLCI_MODEL_VERSION"] == "v1"
    assert env["MLCI_ENV"] == scratch.env and env[SECRET_NAME] == SECRET_VALUE
    assert list(info["NetworkSettings"]["Networks"]) == [scratch.network]
    assert SECRET_VALUE not in first.stdout + first.stderr

    again = scratch.deploy("--version", "v1")
    assert again.returncode == 0 and "is serving in" in again.stdout and "already" in again.stdout
    assert serving(docker_client, scratch)["Id"] == info["Id"]  # a no-op: the same container

    second = scratch.deploy("--version", "v2")
    assert second.returncode == 0, second.stderr
    assert "replacing v1" in second.stdout
    v2 = serving(docker_client, scratch)
    assert v2["Id"] != info["Id"] and v2["Config"]["Labels"]["mlci.version"] == "v2"
    assert ask(docker_client, scratch, "/health")["version"] == "v2"
    assert leftovers(docker_client, scratch) == []  # the old one and the candidate are gone

    broken = scratch.deploy("--version", "v3")
    assert broken.returncode == 1
    log = scratch.root / ".mlci" / "deploy" / f"{scratch.env}-digits-v3.log"
    assert str(log) in broken.stderr and "did not become healthy" in broken.stderr
    assert "v2 keeps serving as" in broken.stderr
    assert "Traceback" not in broken.stderr.split("Its log:")[0]  # mlci's own part is a message, not a crash
    assert "Traceback" in log.read_text() and "joblib.load" in log.read_text()  # the service's own words
    assert log.read_text().splitlines()[-1].startswith("mlci: ")
    still = serving(docker_client, scratch)
    assert still["Id"] == v2["Id"] and still["State"]["Running"]
    assert ask(docker_client, scratch, "/health")["version"] == "v2"
    assert leftovers(docker_client, scratch) == []  # the candidate was removed

    rollback = scratch.deploy("--version", "v1")
    assert rollback.returncode == 0 and "replacing v2" in rollback.stdout
    assert ask(docker_client, scratch, "/health")["version"] == "v1"

    status = scratch.deploy("--status", "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)["deployed"]
    assert (shown["version"], shown["jobId"], shown["state"], shown["restart"]) == (
        "v1",
        "j1",
        "running",
        "unless-stopped",
    )
    assert shown["url"] == f"http://{scratch.name}:8080" and shown["image"] == scratch.image
    text = scratch.deploy("--status")
    assert "v1 (job j1)" in text.stdout and scratch.name in text.stdout


def test_default_version_is_the_one_promoted_to_the_environment(scratch, docker_client):
    undeploy(docker_client, scratch)
    nothing = scratch.deploy()
    assert nothing.returncode == 2 and "nothing of digits is promoted" in nothing.stderr
    assert scratch.mlci("promote", "digits", "v2", "--to", scratch.env).returncode == 0
    done = scratch.deploy()
    assert done.returncode == 0, done.stderr
    assert "promoted copy" in done.stderr
    info = serving(docker_client, scratch)
    assert info["Config"]["Labels"]["mlci.version"] == "v2"
    [mount] = [m for m in info["Mounts"] if m["Destination"] == "/mlci/model"]
    assert mount["Source"].endswith(f"/digits/envs/{scratch.env}/v2")


def test_a_failing_service_never_prints_the_environments_secret(scratch, docker_client):
    undeploy(docker_client, scratch)
    assert scratch.deploy("--version", "v1").returncode == 0
    with serve_settings(scratch, "command: python src/serve.py", f'command: echo "token=${SECRET_NAME}"; exit 3'):
        failed = scratch.deploy("--version", "v2")
    assert failed.returncode == 1 and "exited with code 3" in failed.stderr
    log = (scratch.root / ".mlci" / "deploy" / f"{scratch.env}-digits-v2.log").read_text()
    assert "token=****" in log and "token=****" in failed.stderr
    assert SECRET_VALUE not in log + failed.stderr + failed.stdout
    assert ask(docker_client, scratch, "/health")["version"] == "v1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _health_on(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        return json.loads(response.read())


def test_a_published_port_moves_to_the_new_version_or_stays_with_the_old(scratch, docker_client):
    undeploy(docker_client, scratch)
    port = _free_port()
    settings = ("health_timeout: 60s", f"health_timeout: 60s\n  publish: {port}\n  restart: always")
    with serve_settings(scratch, *settings):
        assert scratch.deploy("--version", "v1").returncode == 0
        assert _health_on(port)["version"] == "v1"
        swapped = scratch.deploy("--version", "v2")
        assert swapped.returncode == 0, swapped.stderr
        assert _health_on(port)["version"] == "v2"
        info = serving(docker_client, scratch)
        assert info["HostConfig"]["PortBindings"]["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
        assert info["HostConfig"]["RestartPolicy"]["Name"] == "always"
        assert scratch.deploy("--version", "v3").returncode == 1
        assert _health_on(port)["version"] == "v2"  # the candidate never touched the port
    # the port is taken by someone else when the new container needs it: the old one comes back
    taken = _free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        with serve_settings(scratch, "health_timeout: 60s", f"health_timeout: 60s\n  publish: {taken}"):
            blocked = scratch.deploy("--version", "v1")
    assert blocked.returncode == 1, blocked.stdout
    assert "did not start" in blocked.stderr and "restarted the previous" in blocked.stderr
    back = serving(docker_client, scratch)
    assert back["State"]["Running"] and back["Config"]["Labels"]["mlci.version"] == "v2"
    assert _health_on(port)["version"] == "v2"
    assert leftovers(docker_client, scratch) == []


def test_what_an_interrupted_deploy_left_is_put_right(scratch, docker_client):
    undeploy(docker_client, scratch)
    assert scratch.deploy("--version", "v1").returncode == 0
    names = Names.of(scratch.env, "digits")
    # killed between its two renames: the old one retired, the new one not yet named
    docker_client.api.rename(names.serving, names.retired)
    docker_client.api.stop(names.retired, timeout=1)
    done = scratch.deploy("--version", "v1")
    assert done.returncode == 0, done.stderr
    assert f"restoring it as {names.serving}" in done.stderr
    assert ask(docker_client, scratch, "/health")["version"] == "v1"
    assert leftovers(docker_client, scratch) == []


def test_a_stranger_under_the_services_name_is_left_alone(scratch, docker_client):
    undeploy(docker_client, scratch)
    stranger = docker_client.containers.create(scratch.image, ["sleep", "60"], name=scratch.name)
    try:
        refused = scratch.deploy("--version", "v1")
        assert refused.returncode == 1 and "was not made by mlci deploy" in refused.stderr
        stranger.reload()
        assert stranger.name == scratch.name
    finally:
        stranger.remove(force=True)
    network = docker_client.networks.create(f"mlci-{scratch.other_env}")  # not made by mlci deploy
    try:
        refused = scratch.mlci("deploy", "digits", "--env", scratch.other_env, "--version", "v1")
        assert refused.returncode == 1 and f"network mlci-{scratch.other_env} exists but" in refused.stderr
        assert not docker_client.api.containers(all=True, filters={"label": f"mlci.env={scratch.other_env}"})
    finally:
        network.remove()


def test_two_deploys_of_one_service_do_not_interleave(scratch, docker_client):
    undeploy(docker_client, scratch)
    lock = lock_path(None, Names.of(scratch.env, "digits"))
    with exclusive_lock(lock):  # another deploy holds it
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlci", "deploy", "digits", "--env", scratch.env, "--version", "v1"],
            cwd=scratch.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        killer = threading.Timer(300, proc.kill)
        killer.start()
        try:
            line = ""
            while "waiting for it" not in line:
                line = proc.stderr.readline()
                assert line, "mlci deploy ended without waiting for the lock"
            assert leftovers(docker_client, scratch) == [] and not docker_client.api.containers(
                all=True, filters={"name": scratch.name}
            )
        finally:
            killer.cancel()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert ask(docker_client, scratch, "/health")["version"] == "v1"


def test_a_deploy_cancelled_during_the_health_check_leaves_the_old_one_serving(scratch, docker_client):
    undeploy(docker_client, scratch)
    assert scratch.deploy("--version", "v1").returncode == 0
    before = serving(docker_client, scratch)["Id"]
    with serve_settings(scratch, "command: python src/serve.py", "command: sleep 300"):  # never answers
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlci", "deploy", "digits", "--env", scratch.env, "--version", "v2"],
            cwd=scratch.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        killer = threading.Timer(300, proc.kill)
        killer.start()
        try:
            line = ""
            while f"waiting for {scratch.name}_candidate" not in line:
                line = proc.stderr.readline()
                assert line, "mlci deploy ended before its health check"
            proc.send_signal(signal.SIGTERM)  # a Jenkins abort
            _, err = proc.communicate(timeout=120)
        finally:
            killer.cancel()
    assert proc.returncode == 130, err
    assert leftovers(docker_client, scratch) == []  # the candidate was removed
    assert serving(docker_client, scratch)["Id"] == before
    assert ask(docker_client, scratch, "/health")["version"] == "v1"
