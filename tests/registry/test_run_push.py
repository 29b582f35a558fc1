"""`mlci run --push` records the digest the registry serves, and `mlci run --image REPO@DIGEST`
reproduces the run from the registry alone (the local image deleted first)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import mlci, write_project

pytestmark = pytest.mark.docker


def test_push_then_reproduce_by_digest(monorepo, base_image, registry, docker_client):
    (monorepo / "mlci.yaml").write_text(f"version: 1\nname: t\nbuild: {{registry: '{registry}/mlci-test'}}\n")
    write_project(
        monorepo,
        "pushed",
        """\
        gpus: none
        stages: [{name: train, run: "echo '{\\"score\\": 1}' > $MLCI_OUTPUT_DIR/metrics.json"}]
        gate: {metric: score, min: 1}
    """,
        files={"marker.txt": "unique content for test_push_then_reproduce_by_digest\n"},
    )

    first = mlci(monorepo, "run", "pushed", "--job-id", "a", "--push", "--no-cache")
    assert first.returncode == 0, first.stderr
    record = json.loads((monorepo / ".mlci/runs/pushed/a/status.json").read_text())
    reference = record["build"]["repoDigest"]
    assert reference.startswith(f"{registry}/mlci-test/pushed@sha256:")
    assert f"pushed {reference}" in first.stderr

    docker_client.images.remove(record["build"]["imageId"], force=True)  # only the registry has it now
    again = mlci(monorepo, "run", "pushed", "--job-id", "b", "--image", reference)
    assert again.returncode == 0, again.stderr
    replay = json.loads((monorepo / ".mlci/runs/pushed/b/status.json").read_text())
    assert replay["build"]["status"] == "Skipped" and replay["build"]["imageUri"] == reference
    assert replay["build"]["imageId"] == record["build"]["imageId"]
    assert replay["gate"]["passed"] is True
    docker_client.images.remove(replay["build"]["imageId"], force=True)  # the pulled copy: leave no image behind


def test_push_without_a_registry_is_refused_before_running(monorepo, base_image):
    write_project(monorepo, "nopush", "gpus: none\nstages: [{name: train, run: 'true'}]\n")
    result = mlci(monorepo, "run", "nopush", "--push")
    assert result.returncode == 2 and "--push needs build.registry" in result.stderr
    assert not (monorepo / ".mlci/runs/nopush").exists()
