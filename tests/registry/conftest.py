"""A real registry (Debian's `docker-registry`) on 127.0.0.1 and a tiny imported image."""

from __future__ import annotations

import contextlib
import io
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
import uuid

import pytest

PREFIX = "mlci-i4-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> str:
    """`127.0.0.1:<port>` of a running registry; the engine allows 127.0.0.1 registries over HTTP."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("apt-get install docker-registry (Debian's distribution registry) to run these tests")
    base = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = base / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {base / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://{address}/v2/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("docker-registry did not start")
    yield address
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def tiny_image(docker_client):
    """A one-file image imported from a tarball (nothing is pulled), removed afterwards."""
    tag = f"{PREFIX}-{uuid.uuid4().hex[:8]}:v1"
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as tar:
        content = uuid.uuid4().hex.encode()  # unique layer, so each test pushes a new blob
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    docker_client.api.import_image_from_data(payload.getvalue(), repository=tag.split(":")[0], tag="v1")
    image = docker_client.images.get(tag)
    yield image
    forget_image(docker_client, image.id)


@pytest.fixture(name="forget_image")
def forget_image_fixture():
    return forget_image


@pytest.fixture(name="closed_port")
def closed_port_fixture() -> int:
    """A loopback port nobody listens on."""
    return free_port()


def forget_image(client, image_id: str) -> None:
    """Remove an image with every tag and digest reference it has, if it still exists."""
    import docker.errors

    try:
        image = client.images.get(image_id)
    except docker.errors.ImageNotFound:
        return
    for ref in [*image.tags, *image.attrs.get("RepoDigests", []), image.id]:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(ref, force=True)


@pytest.fixture
def make_record(tmp_path):
    from mlci.record.store import RunRecord
    from tests.record_support import finished_run

    def make(project: str, image_id: str | None, job: str | None = None) -> RunRecord:
        job = job or f"job-{uuid.uuid4().hex[:6]}"
        record = finished_run(tmp_path, project, job, values=(0.95,))
        record.state.build.image_uri, record.state.build.image_id = f"mlci/{project}:{job}", image_id
        record.save()
        return record

    return make
