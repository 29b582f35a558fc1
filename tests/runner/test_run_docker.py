"""`mlci run` against the real Docker engine, on small fixture projects built on the offline base
image (no network needed). The digits example is in test_digits.py."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import commit_all, mlci, write_project

pytestmark = pytest.mark.docker

METRICS_BY_ATTEMPT = """\
    import json, os
    attempt = int(os.environ["MLCI_ATTEMPT"])
    json.dump({"accuracy": 0.5 if attempt == 1 else 0.92}, open(os.environ["MLCI_OUTPUT_DIR"] + "/metrics.json", "w"))
    print("attempt", attempt, "done")
"""

CONTRACT_PROBE = """\
    import json, os
    env = {k: v for k, v in os.environ.items() if k.startswith("MLCI_")}
    out = os.environ["MLCI_OUTPUT_DIR"]
    with open(out + "/contract.json", "w") as f:
        json.dump({"env": env, "uid": os.getuid(), "gid": os.getgid(),
                   "config": open(os.environ["MLCI_CONFIG"]).read(),
                   "config_writable": os.access(os.environ["MLCI_CONFIG"], os.W_OK),
                   "cache_writable": os.access("/mlci/cache", os.W_OK)}, f)
    json.dump({"accuracy": 1.0}, open(out + "/metrics.json", "w"))
"""


def status(root: Path, project: str, job: str) -> dict:
    return json.loads((root / ".mlci" / "runs" / project / job / "status.json").read_text())


def containers(client, job: str) -> list:
    return client.api.containers(all=True, filters={"label": [f"mlci.job={job}"]})


def test_contract_cache_hit_and_record(monorepo, base_image, docker_client):
    write_project(
        monorepo,
        "probe",
        """\
        gpus: none
        stages:
          - {name: train, run: python probe.py}
        gate: {metric: accuracy, min: 0.5}
    """,
        files={"probe.py": CONTRACT_PROBE, "config.yaml": "lr: 0.1\n"},
    )
    commit = commit_all(monorepo)

    first = mlci(monorepo, "run", "probe", "--job-id", "first", "--no-cache")  # an earlier session may have built it
    assert first.returncode == 0, first.stderr
    data = status(monorepo, "probe", "first")
    assert data["overallStatus"] == "Succeeded"
    assert data["commit"] == commit and data["build"]["cacheHit"] is False
    assert data["build"]["imageUri"].startswith("mlci/probe:")
    assert data["gate"] == {**data["gate"], "metric": "accuracy", "value": 1.0, "passed": True, "attempt": 1}
    assert data["gpus"] == {"requested": "none", "devices": "none", "uuids": []}
    stage = data["attempts"][0]["stages"][0]
    assert stage["status"] == "Succeeded" and stage["exitCode"] == 0 and stage["deviceRequests"] is None

    probe = json.loads((monorepo / ".mlci/runs/probe/first/attempt-1/out/contract.json").read_text())
    assert probe["env"] == {
        "MLCI_JOB_ID": "first",
        "MLCI_PROJECT": "probe",
        "MLCI_STAGE": "train",
        "MLCI_ATTEMPT": "1",
        "MLCI_OUTPUT_DIR": "/mlci/out",
        "MLCI_CACHE_DIR": "/mlci/cache",
        "MLCI_CONFIG": "/mlci/config.yaml",
    }
    import os

    assert (probe["uid"], probe["gid"]) == (os.getuid(), os.getgid())
    assert probe["config"] == "lr: 0.1\n" and probe["cache_writable"]
    assert probe["config_writable"] is False or os.getuid() == 0  # root bypasses mode bits, not the ro mount
    # published to the default local store, with a latest pointer
    store = monorepo / ".mlci/artifacts/probe"
    assert (store / "first" / "contract.json").is_file()
    assert (store / "latest").resolve() == (store / "first").resolve()
    assert data["run"]["artifactUrl"] == (store / "first").resolve().as_uri()
    junit = (monorepo / ".mlci/runs/probe/first/junit.xml").read_text()
    assert 'name="gate"' in junit and "<failure" not in junit
    assert containers(docker_client, "first") == []

    second = mlci(monorepo, "run", "probe", "--job-id", "second")
    assert second.returncode == 0, second.stderr
    assert "cache hit" in second.stdout + second.stderr
    again = status(monorepo, "probe", "second")
    assert again["build"]["cacheHit"] is True and again["build"]["status"] == "Cached"
    assert again["build"]["imageId"] == data["build"]["imageId"]


def test_gate_fails_then_passes_on_retrain(monorepo, base_image):
    write_project(
        monorepo,
        "flaky",
        """\
        gpus: none
        stages:
          - {name: train, run: python train.py}
        gate: {metric: accuracy, min: 0.9}
        retrain: {max_attempts: 3}
    """,
        files={"train.py": METRICS_BY_ATTEMPT},
    )
    result = mlci(monorepo, "run", "flaky", "--job-id", "j1")
    assert result.returncode == 0, result.stderr
    assert "gate failed on attempt 1/3" in result.stderr
    data = status(monorepo, "flaky", "j1")
    assert [a["status"] for a in data["attempts"]] == ["Failed", "Succeeded"]
    assert data["attempts"][0]["gate"]["value"] == 0.5 and data["attempts"][1]["gate"]["value"] == 0.92
    assert data["gate"]["attempt"] == 2 and data["run"]["outputDir"] == "attempt-2/out"
    assert (monorepo / ".mlci/runs/flaky/j1/attempt-1/train.log").read_text().strip() == "attempt 1 done"
    junit = (monorepo / ".mlci/runs/flaky/j1/junit.xml").read_text()
    assert junit.count("<failure") == 1 and 'classname="mlci.flaky.attempt-1" name="gate"' in junit


def test_gate_failing_on_every_attempt_exits_1(monorepo, base_image):
    write_project(
        monorepo,
        "hopeless",
        """\
        gpus: none
        stages: [{name: train, run: python train.py}]
        gate: {metric: accuracy, min: 0.99}
        retrain: {max_attempts: 2}
    """,
        files={"train.py": METRICS_BY_ATTEMPT},
    )
    result = mlci(monorepo, "run", "hopeless", "--job-id", "j")
    assert result.returncode == 1
    data = status(monorepo, "hopeless", "j")
    assert data["overallStatus"] == "Failed" and len(data["attempts"]) == 2
    assert data["error"] == "accuracy = 0.92 not >= 0.99"
    assert not (monorepo / ".mlci/artifacts/hopeless").exists()


def test_failing_stage_stops_the_run_without_retrain(monorepo, base_image):
    write_project(
        monorepo,
        "crash",
        """\
        gpus: none
        stages:
          - {name: train, run: "echo about to fail; exit 3"}
          - {name: evaluate, run: "echo never"}
        retrain: {max_attempts: 3}
    """,
    )
    result = mlci(monorepo, "run", "crash", "--job-id", "j")
    assert result.returncode == 1
    assert "about to fail" in result.stdout
    data = status(monorepo, "crash", "j")
    assert data["overallStatus"] == "Failed" and len(data["attempts"]) == 1
    assert [(s["name"], s["status"], s["exitCode"]) for s in data["attempts"][0]["stages"]] == [("train", "Failed", 3)]
    assert data["error"] == "stage train exited with code 3"


def test_build_failure_is_recorded_with_its_log(monorepo, base_image):
    write_project(
        monorepo,
        "badbuild",
        "gpus: none\n",
        dockerfile=("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo compiling-the-thing && exit 7\n"),
    )
    result = mlci(monorepo, "run", "badbuild", "--job-id", "j")
    assert result.returncode == 1
    data = status(monorepo, "badbuild", "j")
    assert data["overallStatus"] == "Build Failed" and data["build"]["status"] == "Failed"
    assert data["attempts"] == []
    log = (monorepo / ".mlci/runs/badbuild/j/build.log").read_text()
    assert "compiling-the-thing" in log and "returned a non-zero code: 7" in log


def test_missing_base_image_says_how_to_build_it(monorepo, docker_client):
    (monorepo / "mlci.yaml").write_text("version: 1\nname: t\nbuild: {base_image: 'mlci/absent:never'}\n")
    write_project(monorepo, "p", "gpus: none\n")
    result = mlci(monorepo, "run", "p", "--job-id", "j")
    assert result.returncode == 1
    assert "mlci base-image build --tag mlci/absent:never" in result.stderr
    assert "Traceback" not in result.stderr
    data = status(monorepo, "p", "j")
    assert data["overallStatus"] == "Build Failed" and data["build"]["status"] == "Failed"
    assert "mlci/absent:never is not present" in data["error"]


def test_stage_timeout(monorepo, base_image, docker_client):
    write_project(
        monorepo,
        "slow",
        """\
        gpus: none
        stages: [{name: train, run: "echo started; sleep 60", timeout: 2s}]
    """,
    )
    started = time.monotonic()
    result = mlci(monorepo, "run", "slow", "--job-id", "j")
    assert result.returncode == 1
    assert time.monotonic() - started < 30
    stage = status(monorepo, "slow", "j")["attempts"][0]["stages"][0]
    assert stage["status"] == "Timed Out"
    assert "exceeded its timeout of 2s" in (monorepo / ".mlci/runs/slow/j/attempt-1/train.log").read_text()
    assert containers(docker_client, "j") == []


SLEEPER = """\
    gpus: none
    stages: [{name: train, run: 'echo sleeping; case "$MLCI_JOB_ID" in long*) sleep 300;; esac'}]
"""


def _start_and_wait_for_container(root: Path, client, job: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(root), "run", "sleeper", "--job-id", job],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = client.api.containers(filters={"label": [f"mlci.job={job}"], "status": "running"})
        if running:
            return proc
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("the stage container never started")


def test_sigint_cancels_within_10s_and_leaves_nothing(monorepo, base_image, docker_client):
    write_project(monorepo, "sleeper", SLEEPER)
    proc = _start_and_wait_for_container(monorepo, docker_client, "long-int")
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent <= 10
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    data = status(monorepo, "sleeper", "long-int")
    assert data["overallStatus"] == "Cancelled" and data["finishedAt"]
    assert containers(docker_client, "long-int") == []


def test_sigterm_cancels_too(monorepo, base_image, docker_client):
    write_project(monorepo, "sleeper", SLEEPER)
    proc = _start_and_wait_for_container(monorepo, docker_client, "long-term")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert status(monorepo, "sleeper", "long-term")["overallStatus"] == "Cancelled"
    assert containers(docker_client, "long-term") == []


def test_sigkill_is_detected_as_interrupted_and_cleaned_by_the_next_run(monorepo, base_image, docker_client):
    write_project(monorepo, "sleeper", SLEEPER)
    proc = _start_and_wait_for_container(monorepo, docker_client, "long-kill")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert len(containers(docker_client, "long-kill")) == 1  # left behind by the dead process
    assert status(monorepo, "sleeper", "long-kill")["overallStatus"] == "Running"  # what the file says

    shown = json.loads(mlci(monorepo, "status", "sleeper", "--json").stdout)
    assert [(r["jobId"], r["status"]) for r in shown] == [("long-kill", "Interrupted")]
    table = mlci(monorepo, "status").stdout
    assert "Interrupted" in table

    follow_up = mlci(monorepo, "run", "sleeper", "--job-id", "short")
    assert follow_up.returncode == 0, follow_up.stderr
    assert "removed 1 leftover container(s) of interrupted job long-kill" in follow_up.stderr
    assert containers(docker_client, "long-kill") == []
    assert status(monorepo, "sleeper", "long-kill")["overallStatus"] == "Interrupted"


def test_gpu_request_without_nvidia_runtime_is_a_clear_error(monorepo, base_image, docker_client):
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime: the GPU suite covers it")
    write_project(monorepo, "gpu", "gpus: all\nstages: [{name: train, run: nvidia-smi}]\n")
    result = mlci(monorepo, "run", "gpu", "--job-id", "all")
    assert result.returncode == 1
    assert "GPUs were requested (all) but this Docker engine has no NVIDIA runtime" in result.stderr
    assert "nvidia-ctk runtime configure" in result.stderr and "--gpus none" in result.stderr
    assert "could not select device driver" not in result.stderr
    data = status(monorepo, "gpu", "all")
    assert data["overallStatus"] == "Failed"
    # the request the engine stored on the created container
    assert data["attempts"][0]["stages"][0]["deviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}
    ]
    assert containers(docker_client, "all") == []

    explicit = mlci(monorepo, "run", "gpu", "--job-id", "pair", "--gpus", "0,1")
    assert explicit.returncode == 1 and "GPUs were requested (0,1)" in explicit.stderr
    requests = status(monorepo, "gpu", "pair")["attempts"][0]["stages"][0]["deviceRequests"]
    assert requests[0]["DeviceIDs"] == ["0", "1"] and requests[0]["Count"] == 0

    auto = mlci(monorepo, "run", "gpu", "--job-id", "cpu", "--gpus", "auto")
    assert "running on the CPU" in auto.stderr  # nvidia-smi is absent: the stage itself fails
    assert status(monorepo, "gpu", "cpu")["attempts"][0]["stages"][0]["deviceRequests"] is None


def test_logs_and_status_commands(monorepo, base_image):
    write_project(
        monorepo,
        "chatty",
        """\
        gpus: none
        stages:
          - {name: train, run: "echo line-from-train"}
          - {name: evaluate, run: "echo line-from-evaluate"}
    """,
    )
    assert mlci(monorepo, "run", "chatty", "--job-id", "j", "--quiet").returncode == 0
    all_logs = mlci(monorepo, "logs", "chatty").stdout
    assert all_logs.index("line-from-train") < all_logs.index("line-from-evaluate")
    only = mlci(monorepo, "logs", "chatty", "j", "--stage", "evaluate").stdout
    assert only.strip() == "line-from-evaluate"
    follow = mlci(monorepo, "logs", "chatty", "--follow", timeout=30)
    assert follow.returncode == 0 and "line-from-evaluate" in follow.stdout
    bad = mlci(monorepo, "logs", "chatty", "j", "--stage", "nope")
    assert bad.returncode == 2 and "stages run: evaluate, train" in bad.stderr
    rows = json.loads(mlci(monorepo, "status", "--json").stdout)
    assert rows[0]["project"] == "chatty" and rows[0]["status"] == "Succeeded"


def test_default_job_id_is_the_commit_with_suffixes(monorepo, base_image):
    write_project(monorepo, "ids", "gpus: none\nstages: [{name: train, run: 'true'}]\n")
    commit = commit_all(monorepo)
    assert mlci(monorepo, "run", "ids", "-q").returncode == 0
    assert mlci(monorepo, "run", "ids", "-q").returncode == 0
    (monorepo / "projects/ids/extra.txt").write_text("dirty\n")
    assert mlci(monorepo, "run", "ids", "-q").returncode == 0
    jobs = sorted(p.name for p in (monorepo / ".mlci/runs/ids").iterdir())
    assert jobs == sorted([commit[:8], f"{commit[:8]}-2", f"{commit[:8]}-dirty"])
    taken = mlci(monorepo, "run", "ids", "--job-id", commit[:8])
    assert taken.returncode == 2 and "already exists" in taken.stderr


def test_declared_secrets_reach_the_stage_but_never_the_log_or_record(monorepo, base_image):
    secret = "tok-6e0c2b9d-do-not-print"
    write_project(
        monorepo,
        "secretive",
        """\
        gpus: none
        secrets: [MLCI_TEST_API_TOKEN]
        stages:
          - {name: train, run: 'echo "token=$MLCI_TEST_API_TOKEN"; test "${#MLCI_TEST_API_TOKEN}" = 25'}
          - {name: evaluate, run: 'echo "$MLCI_TEST_API_TOKEN" >&2; exit 4'}
    """,
    )
    missing = mlci(monorepo, "run", "secretive", "--job-id", "missing")
    assert missing.returncode == 2 and "needs secrets that are not set: MLCI_TEST_API_TOKEN" in missing.stderr

    result = mlci(monorepo, "run", "secretive", "--job-id", "j", env={"MLCI_TEST_API_TOKEN": secret})
    assert result.returncode == 1  # evaluate exits 4 after printing the secret to stderr
    assert "token=****" in result.stdout
    data = status(monorepo, "secretive", "j")
    assert data["attempts"][0]["stages"][0]["status"] == "Succeeded"  # the stage did get the value
    for path in (monorepo / ".mlci").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    assert secret not in result.stdout + result.stderr


def test_logs_follow_a_running_job_to_its_end(monorepo, base_image, docker_client):
    write_project(
        monorepo,
        "slowtalk",
        """\
        gpus: none
        stages: [{name: train, run: 'echo first-line; sleep 3; echo last-line'}]
    """,
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(monorepo), "run", "slowtalk", "--job-id", "f", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    log = monorepo / ".mlci/runs/slowtalk/f/attempt-1/train.log"
    while not (log.is_file() and "first-line" in log.read_text()):
        assert time.monotonic() < deadline and run.poll() is None, run.stderr.read() if run.stderr else ""
        time.sleep(0.1)
    follow = mlci(monorepo, "logs", "slowtalk", "f", "--stage", "train", "--follow", timeout=60)
    assert run.wait(timeout=60) == 0
    assert follow.returncode == 0
    assert follow.stdout.splitlines() == ["first-line", "last-line"]  # waited for the end, nothing twice
