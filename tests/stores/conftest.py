"""Fixtures for the artifact-store tests: run records with outputs, and no-wait retries."""

from __future__ import annotations

import socket
import threading
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


class _OneRequestAtATime:
    """A WSGI app that serves one request at a time. moto checks `If-None-Match: *` and then
    stores the object in separate steps, without a lock, so two threads of its server can both
    pass the check; S3 itself creates the key once (AWS: conditional writes). Serialising the
    requests gives moto exactly S3's documented atomicity for the concurrency tests."""

    def __init__(self, app):
        self.app, self.lock = app, threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            return list(self.app(environ, start_response))


def start_moto(*, one_request_at_a_time: bool = False):
    """moto in server mode on 127.0.0.1: a real HTTP endpoint boto3 talks to over the wire.
    Returns (endpoint URL, stop)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    port = free_port()
    if not one_request_at_a_time:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        return f"http://127.0.0.1:{port}", server.stop
    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    wsgi = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
    thread.start()

    def stop():
        wsgi.shutdown()
        thread.join()

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture(scope="module")
def endpoint():
    pytest.importorskip("moto.server")
    url, stop = start_moto()
    yield url
    stop()


@pytest.fixture(scope="module")
def serial_endpoint():
    """moto serving one request at a time: S3's conditional-write atomicity (see _OneRequestAtATime)."""
    pytest.importorskip("moto.server")
    url, stop = start_moto(one_request_at_a_time=True)
    yield url
    stop()


@pytest.fixture
def client(serial_endpoint):
    """The promotion tests' bucket (promotion_support.BUCKET) on the serialised moto, emptied and
    removed afterwards (moto keeps one state per process)."""
    pytest.importorskip("boto3")
    from tests.stores.promotion_support import emptied_bucket, remove_bucket

    s3 = emptied_bucket(serial_endpoint)
    yield s3
    remove_bucket(s3)


@pytest.fixture
def s3_repo(tmp_path, serial_endpoint, client, monkeypatch) -> Path:
    """A repository whose default store is `s3` on that bucket (promotion_support.write_manifest),
    its credentials in the environment (spawned processes inherit them); nothing published yet."""
    from tests.stores.promotion_support import write_manifest

    monkeypatch.setenv("MLCI_TEST_S3_KEY", "AKIAMLCITESTKEY0001")
    monkeypatch.setenv("MLCI_TEST_S3_SECRET", "s3-secret-value-never-printed")
    write_manifest(tmp_path, serial_endpoint, default="s3")
    return tmp_path
