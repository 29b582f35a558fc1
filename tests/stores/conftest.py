"""Fixtures for the artifact-store tests: run records with outputs, and no-wait retries."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from mlci.record.store import RunRecord
from tests.record_support import finished_run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(name="free_port")
def free_port_fixture():
    return free_port


@pytest.fixture
def make_run(tmp_path):
    """A Succeeded record whose passing attempt (2) wrote `files` ({relative path: bytes})."""

    def make(
        project: str = "digits",
        job: str | None = None,
        files: dict[str, bytes] | None = None,
        status: str = "Succeeded",
        root: Path = tmp_path,
    ) -> RunRecord:
        job = job or f"20261123-{uuid.uuid4().hex[:6]}"
        passed = status != "Failed"
        record = finished_run(
            root, project, job, values=(0.85, 0.93 if passed else 0.71), files=files, close=status != "Running"
        )
        record.state.metrics["loss"] = 0.25
        record.save()
        return record

    return make
