"""Push to and pull by digest from a real registry on 127.0.0.1 (Debian's docker-registry)."""

from __future__ import annotations

import urllib.request

import pytest

from mlci.cli import main
from mlci.errors import MlciError, UsageError
from mlci.publish.registry import push_image, resolve_image
from mlci.record.store import RunRecord
from tests.record_support import finished_run

pytestmark = pytest.mark.docker

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def registry_digest(registry: str, repository: str, tag: str) -> str:
    """What the registry itself says the tag's manifest digest is."""
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}", method="HEAD")
    request.add_header("Accept", MANIFEST_V2)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"]


def test_push_records_the_digest_the_registry_serves(docker_client, registry, tiny_image, make_record):
    record = make_record("demo", tiny_image.id, job="20261123-001")

    reference = push_image(docker_client, record, registry)

    served = registry_digest(registry, "demo", "20261123-001")
    assert reference == f"{registry}/demo@{served}"
    saved = RunRecord.load(record.dir).state.build
    assert saved.digest == served
    assert saved.repo_digest == reference


def test_pull_by_digest_reproduces_the_exact_image(docker_client, registry, tiny_image, make_record, forget_image):
    record = make_record("demo", tiny_image.id)
    reference = push_image(docker_client, record, registry)
    original_id = tiny_image.id
    # forget the image locally, so resolving must pull it from the registry
    forget_image(docker_client, original_id)

    image = resolve_image(docker_client, reference)

    assert image.id == original_id
    assert reference in image.attrs["RepoDigests"]


def test_unknown_digest_is_a_clear_error(docker_client, registry):
    missing = f"{registry}/demo@sha256:{'0' * 64}"
    with pytest.raises(UsageError, match="has no image"):
        resolve_image(docker_client, missing)


def test_malformed_reference_is_rejected(docker_client):
    with pytest.raises(UsageError, match="not an image digest reference"):
        resolve_image(docker_client, "127.0.0.1:1/demo@sha256:abc")


def test_unreachable_registry_retries_then_fails(docker_client, tiny_image, make_record, no_backoff, closed_port):
    record = make_record("demo", tiny_image.id)
    with pytest.raises(MlciError, match=r"push of .* failed"):
        push_image(docker_client, record, f"127.0.0.1:{closed_port}")
    assert len(no_backoff) == 4  # connection refused is transient: 5 tries in all
    assert RunRecord.load(record.dir).state.build.digest is None


def test_push_command_pushes_the_latest_run(tmp_path, docker_client, registry, tiny_image, capsys):
    (tmp_path / "mlci.yaml").write_text(f"version: 1\nname: t\nbuild: {{registry: '{registry}/team'}}\n")
    record = finished_run(tmp_path, "demo", "job-7", values=(0.95,), image_id=tiny_image.id)

    assert main(["--root", str(tmp_path), "push", "demo"]) == 0

    saved = RunRecord.load(record.dir).state.build
    assert saved.repo_digest == f"{registry}/team/demo@{registry_digest(registry, 'team/demo', 'job-7')}"
    assert saved.repo_digest in capsys.readouterr().out


def test_push_command_without_registry_says_how_to_set_it(tmp_path, capsys):
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\n")
    finished_run(tmp_path, "demo", "job-1", values=(0.95,))
    assert main(["--root", str(tmp_path), "push", "demo"]) == 2
    assert "build.registry is not set" in capsys.readouterr().err


def test_publish_push_records_the_digest_before_publishing(tmp_path, docker_client, registry, tiny_image, capsys):
    (tmp_path / "mlci.yaml").write_text(f"version: 1\nname: t\nbuild: {{registry: '{registry}'}}\n")
    record = finished_run(tmp_path, "demo", "job-9", values=(0.95,), files={"model.bin": b"w"}, image_id=tiny_image.id)

    assert main(["--root", str(tmp_path), "publish", "demo", "--push"]) == 0

    state = RunRecord.load(record.dir).state
    assert state.build.repo_digest == f"{registry}/demo@{registry_digest(registry, 'demo', 'job-9')}"
    assert state.publish is not None and state.publish.url.startswith("file://")
