"""A real MLflow tracking server (mlflow==3.17.2, sqlite backend, artifacts served by the server)
on 127.0.0.1, started once per session from the venv the README's test command installs
(`scripts/setup.sh --test` → .tools/mlflow-venv), and the MLflow client to read what it holds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MLFLOW_VENV = Path(os.environ.get("MLCI_MLFLOW_VENV") or REPO / ".tools" / "mlflow-venv")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    uri: str
    data: Path


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> Iterator[Server]:
    executable = MLFLOW_VENV / "bin" / "mlflow"
    if not executable.is_file():
        pytest.fail(f"{executable} is missing: run ./scripts/setup.sh --test (it installs mlflow==3.17.2 there)")
    data = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(
        [
            str(executable),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{data}/mlflow.db",
            "--artifacts-destination",
            str(data / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # it forks workers: stopped as a process group
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited: {(data / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"mlflow server never answered /health: {(data / 'server.log').read_text()[-2000:]}")
        yield Server(uri, data)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.fixture
def client(mlflow_server):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server.uri)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers a byte (a hung tracker)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.fixture
def closed_port() -> str:
    """An address where nothing listens: the connection is refused."""
    return f"http://127.0.0.1:{free_port()}"
