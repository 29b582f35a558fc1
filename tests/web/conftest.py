"""One dashboard for the whole session: a checkout whose runs directory holds 1,200 generated runs,
a small project with experiments and publications, hostile records, a damaged one and a run that
the tests drive live; served by the real `mlci dashboard` app on 127.0.0.1 with a free port, with
its rerun button wired to the strict Jenkins double."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlci.record.model import Experiment, GpuUse, StageStatus
from mlci.record.store import RunRecord
from tests.conftest import BAD_RECORDS_MARKER
from tests.jenkins.fake_jenkins import FakeJenkins, Job
from tests.record_support import finished_run

PASSWORD = "dashboard-password-value"
JENKINS_TOKEN = "jenkins-api-token-value"
BULK = 1200
HOSTILE_METRIC = "<script>window.__pwned=1</script>"
HOSTILE_REASON = '"\'><img src=x onerror="window.__pwned=2">'
HOSTILE_URL = "javascript:window.__pwned=3"


@dataclass
class Site:
    root: Path
    url: str
    jenkins: FakeJenkins
    live: RunRecord


def _bulk(root: Path) -> None:
    for i in range(BULK):
        finished_run(root, "bulk", f"run-{i:04d}", values=(0.80 + (i % 20) / 100,), files={"m": b"x"})


def _digits(root: Path) -> None:
    for i, value in enumerate((0.91, 0.88, 0.95, 0.97)):
        record = finished_run(root, "digits", f"d-{i}", values=(value,), extra_metrics={"loss": 1 - value})
        if i == 2:
            record.state.experiment = Experiment(name="lr-sweep", overrides={"train.lr": 0.01, "train.epochs": 3})
        if i == 3:
            record.state.published("hub", "https://huggingface.co/acme/digits/tree/d-3")
            record.state.gpus = GpuUse(requested="1", devices="0", uuids=["GPU-0000"])
        record.save()


def _hostile(root: Path) -> None:
    record = finished_run(root, "hostile", "h-1", values=(0.95,), extra_metrics={HOSTILE_METRIC: 1.0})
    record.state.gate = record.state.gate.model_copy(update={"reason": HOSTILE_REASON})
    record.state.published("hub", HOSTILE_URL)
    record.save()
    # a log that names a file outside the run's directory through a symlink
    (record.dir / "attempt-1" / "train.log").symlink_to("/etc/hostname")
    # a half-written record in a project of its own, marked for the suite's schema check
    broken = record.dir.parent.parent / "damaged" / "half-written"
    broken.mkdir(parents=True)
    (broken.parent / BAD_RECORDS_MARKER).touch()
    (broken / "status.json").write_text('{"jobId": "half-written", "project": "damaged", "overallSt')


def _live(root: Path) -> RunRecord:
    """A run in its train stage: the test appends to its log and finishes it while a page watches."""
    record = RunRecord.create(root, "live", "live-1")
    state = record.state
    state.begin_build()
    state.build.succeed(image_uri="mlci/live:1", image_id="sha256:" + "cd" * 32, cache_hit=False,
                        context_hash="d" * 64, duration_s=2.0)  # fmt: skip
    state.begin_running()
    attempt = state.begin_attempt()
    state.begin_stage(attempt, "train")
    record.path("attempt-1").mkdir(exist_ok=True)
    record.path("attempt-1/train.log").write_text("epoch 1 loss 0.9\n")
    record.save()
    return record


def finish_live(record: RunRecord) -> None:
    state = record.state
    attempt = state.attempts[-1]
    attempt.stages[-1].finish(StageStatus.SUCCEEDED, 0, 3.0, None)
    attempt.accept_outputs(1, 1)
    from tests.record_support import gate_verdict

    attempt.judge(gate_verdict(0.95), {"accuracy": 0.95}, None)
    state.adopt(attempt)
    from mlci.record.model import RunStatus

    record.close(RunStatus.SUCCEEDED, None)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    import uvicorn

    from mlci.commands.dashboard import build_settings
    from mlci.web.app import create_app

    saved = {
        k: os.environ.get(k) for k in ("MLCI_RUNS_DIR", "MLCI_TEST_JENKINS", "MLCI_TEST_DASHBOARD", "MLCI_JENKINS_URL")
    }
    os.environ.pop("MLCI_RUNS_DIR", None)
    os.environ.pop("MLCI_JENKINS_URL", None)
    os.environ["MLCI_TEST_JENKINS"] = JENKINS_TOKEN
    os.environ["MLCI_TEST_DASHBOARD"] = PASSWORD
    root = tmp_path_factory.mktemp("dashboard-site")
    with FakeJenkins(token=JENKINS_TOKEN) as jenkins:
        jenkins.add(Job("mlci-project-bulk"))
        (root / "mlci.yaml").write_text(
            "version: 1\nname: t\n"
            f"jenkins: {{url: '{jenkins.url}', api_user: admin, api_token: MLCI_TEST_JENKINS}}\n"
            "dashboard: {password: MLCI_TEST_DASHBOARD}\n"
        )
        _bulk(root)
        _digits(root)
        _hostile(root)
        live = _live(root)
        sock = _free_socket()
        server = uvicorn.Server(uvicorn.Config(create_app(build_settings(root, "en")), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield Site(root, f"http://127.0.0.1:{sock.getsockname()[1]}", jenkins, live)
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
