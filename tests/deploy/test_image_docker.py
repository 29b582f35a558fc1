"""The image a version records: a repo digest absent from the engine is pulled from the registry (a
real one on 127.0.0.1), a local image id that is gone is a clear error with a way out, and anything
else is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.deploy.target import Target, ensure_image
from mlci.errors import MlciError
from mlci.publish.registry import push_image
from mlci.publish.versions import VersionEntry
from tests.registry.conftest import forget_image, forget_image_fixture, make_record, registry, tiny_image

pytestmark = pytest.mark.docker
__all__ = ["forget_image_fixture", "make_record", "registry", "tiny_image"]  # the registry tests' fixtures


def target(image: str) -> Target:
    entry = VersionEntry(
        version="v1", project="demo", job_id="job-1", store="shelf", url="file:///nonexistent", published_at="now"
    )
    return Target("demo", "dev", "v1", "job-1", image, Path("/nonexistent"), False, entry)


def test_a_repo_digest_is_pulled_when_absent(docker_client, registry, tiny_image, make_record):
    reference = push_image(docker_client, make_record("demo", tiny_image.id), registry)
    original = tiny_image.id
    forget_image(docker_client, original)
    said: list[str] = []
    assert ensure_image(docker_client, target(reference), said.append) == original
    assert said == [f"pulling {reference}"]
    assert ensure_image(docker_client, target(reference), said.append) == original  # present now: no pull
    assert len(said) == 1


def test_a_missing_local_image_or_a_strange_reference_is_refused(docker_client):
    with pytest.raises(MlciError, match="is not in this Docker engine") as gone:
        ensure_image(docker_client, target("sha256:" + "0" * 64), print)
    assert "docker save | docker load" in str(gone.value) and "mlci push" in str(gone.value)
    for ref in ("python:latest", "sha256:XYZ", "", "repo@sha256:abc"):
        with pytest.raises(MlciError):
            ensure_image(docker_client, target(ref), print)
