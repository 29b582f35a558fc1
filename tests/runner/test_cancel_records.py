"""Every exit path ends every open part of the record with its true state: a run cancelled by
SIGTERM (how Jenkins aborts) or SIGINT is Cancelled in every field — stage, attempt, build, run,
junit — not Failed; a run cancelled while its image builds says so for the build."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import write_project

pytestmark = pytest.mark.docker

THREE_STAGES = """\
    gpus: none
    stages:
      - {name: prepare, run: 'echo ready'}
      - {name: train, run: 'echo training; sleep 300'}
      - {name: evaluate, run: 'echo never'}
    gate: {metric: accuracy, min: 0.5}
"""


def start(root: Path, project: str, job: str, *, ignore_sigint: bool = False) -> subprocess.Popen:
    def child_setup() -> None:
        if ignore_sigint:  # what a non-interactive shell does to a background job
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [sys.executable, "-m", "mlci", "--root", str(root), "run", project, "--job-id", job, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=child_setup,
    )


def record(root: Path, project: str, job: str) -> dict:
    path = root / ".mlci/runs" / project / job / "status.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def wait_for(predicate, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"mlci ended before {what}: {proc.communicate()}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"timed out waiting for {what}")


def junit_cases(root: Path, project: str, job: str) -> tuple[ET.Element, dict[str, str]]:
    suite = ET.parse(root / ".mlci/runs" / project / job / "junit.xml").getroot()
    outcome = {}
    for case in suite.iter("testcase"):
        kind = (
            "failure" if case.find("failure") is not None else "skipped" if case.find("skipped") is not None else "ok"
        )
        outcome[case.get("name")] = kind
    return suite, outcome


@pytest.mark.parametrize(
    ("sig", "ignore_sigint", "how"),
    [(signal.SIGTERM, False, "SIGTERM"), (signal.SIGINT, False, "SIGINT"), (signal.SIGINT, True, "SIGINT")],
    ids=["sigterm", "sigint", "sigint-when-inherited-ignored"],
)
def test_cancel_mid_stage_records_cancelled_everywhere(monorepo, base_image, docker_client, sig, ignore_sigint, how):
    write_project(monorepo, "three", THREE_STAGES)
    job = f"cancel-{sig.name.lower()}-{int(ignore_sigint)}"
    proc = start(monorepo, "three", job, ignore_sigint=ignore_sigint)
    wait_for(
        lambda: docker_client.api.containers(
            filters={"label": [f"mlci.job={job}", "mlci.stage=train"], "status": "running"}
        ),
        proc,
        "the train stage to run",
    )
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err

    data = record(monorepo, "three", job)
    assert data["overallStatus"] == "Cancelled"
    assert data["run"]["status"] == "Cancelled"
    assert data["error"] == f"cancelled ({how})"
    assert data["finishedAt"]
    assert data["build"]["status"] in ("Succeeded", "Cached") and data["build"]["finishedAt"]
    [attempt] = data["attempts"]
    assert attempt["status"] == "Cancelled" and attempt["finishedAt"]
    assert [(s["name"], s["status"]) for s in attempt["stages"]] == [("prepare", "Succeeded"), ("train", "Cancelled")]
    assert attempt["stages"][1]["finishedAt"]
    assert attempt["gate"] is None

    suite, cases = junit_cases(monorepo, "three", job)
    assert cases == {"prepare": "ok", "train": "skipped"}
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"
    assert docker_client.api.containers(all=True, filters={"label": [f"mlci.job={job}"]}) == []


def test_cancel_during_the_build_records_the_build_cancelled(monorepo, base_image, docker_client):
    dockerfile = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo building && sleep 120\n"
    write_project(monorepo, "slowbuild", "gpus: none\n", dockerfile=dockerfile)
    (monorepo / "projects/slowbuild/nonce").write_text(str(time.time()))  # never a cache hit
    job = "cancel-build"
    proc = start(monorepo, "slowbuild", job)
    log = monorepo / ".mlci/runs/slowbuild" / job / "build.log"
    wait_for(lambda: log.is_file() and "building" in log.read_text(), proc, "the build to start its RUN step")
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err

    data = record(monorepo, "slowbuild", job)
    assert data["overallStatus"] == "Cancelled"
    assert data["build"]["status"] == "Cancelled" and data["build"]["finishedAt"]
    assert data["run"]["status"] == "Cancelled"
    assert data["attempts"] == []
    suite, cases = junit_cases(monorepo, "slowbuild", job)
    assert cases == {"build": "skipped"} and suite.get("failures") == "0"


def test_unusable_metrics_end_the_attempt_with_a_named_reason(monorepo, base_image):
    from tests.conftest import mlci

    writer = (
        "import os\n"
        "nested = '[' * 50000 + ']' * 50000\n"
        "open(os.environ['MLCI_OUTPUT_DIR'] + '/metrics.json', 'w').write('{\"accuracy\": ' + nested + '}')\n"
    )
    write_project(
        monorepo,
        "odd",
        """\
        gpus: none
        stages: [{name: train, run: python w.py}]
        gate: {metric: accuracy, min: 0.5}
    """,
        files={"w.py": writer},
    )
    result = mlci(monorepo, "run", "odd", "--job-id", "nested", "-q")
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    data = record(monorepo, "odd", "nested")
    [attempt] = data["attempts"]
    assert attempt["status"] == "Failed"
    assert (
        attempt["gate"]["reason"]
        == 'metrics.json is nested too deeply — write a flat object such as {"accuracy": 0.93}'
    )
    assert data["overallStatus"] == "Failed" and data["finishedAt"]
    _suite, cases = junit_cases(monorepo, "odd", "nested")
    assert cases["gate"] == "failure"
