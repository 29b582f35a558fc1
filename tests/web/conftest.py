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

from mlci.record.store import RunRecord
from tests.jenkins.fake_jenkins import FakeJenkins, Job
from tests.web.demo_records import HOSTILE_METRIC, HOSTILE_REASON, HOSTILE_URL, demo_site, finish_live

__all__ = ["HOSTILE_METRIC", "HOSTILE_REASON", "HOSTILE_URL", "finish_live"]

PASSWORD = "dashboard-password-value"
JENKINS_TOKEN = "jenkins-api-token-value"
BULK = 1200


@dataclass
class Site:
    root: Path
    url: str
    jenkins: FakeJenkins
    live: RunRecord


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
        live = demo_site(root, bulk_runs=BULK)
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
