"""Fixtures for the artifact-store tests: run records with outputs, and no-wait retries."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from mlci.record.store import RunRecord


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
        record = RunRecord.create(root, project, job)
        out = record.dir / "attempt-2" / "out"
        for name, content in (files or {"model.bin": b"weights", "metrics.json": b'{"accuracy": 0.93}'}).items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(content)
        passed = status == "Succeeded"
        record.data.update(
            {
                "overallStatus": status,
                "commit": "0123456789abcdef0123456789abcdef01234567",
                "metrics": {"accuracy": 0.93 if passed else 0.71, "loss": 0.25},
                "attempts": [
                    {"n": 1, "status": "Failed", "metrics": {"accuracy": 0.85}, "gate": {"passed": False}},
                    {"n": 2, "status": status, "metrics": {"accuracy": 0.93}, "gate": {"passed": passed}},
                ],
                "gate": {
                    "metric": "accuracy",
                    "op": ">=",
                    "threshold": 0.9,
                    "value": 0.93 if passed else 0.71,
                    "passed": passed,
                    "attempt": 2,
                },
            }
        )
        record.data["build"].update(
            {"imageUri": f"mlci/{project}:abc123", "imageId": "sha256:" + "ab" * 32, "cacheHit": True}
        )
        record.data["run"].update({"status": status, "outputDir": "attempt-2/out"})
        record.save()
        return record

    return make
