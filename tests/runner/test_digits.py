"""The example project end to end, exactly as the README's main command runs it: image built on
the offline base image (pip reaches the index through the base image's CA bundle), trained,
evaluated, gated and published to the local store; the second run is a cache hit."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import REPO, mlci

pytestmark = pytest.mark.docker


def test_digits_trains_evaluates_and_publishes(monorepo, base_image):
    shutil.copytree(REPO / "projects" / "digits", monorepo / "projects" / "digits")
    # mlci's own manifest, with its host store path (/srv/mlci/artifacts) moved into the test's tree
    manifest = (REPO / "mlci.yaml").read_text()
    assert "path: /srv/mlci/artifacts}" in manifest
    store = monorepo / ".mlci/artifacts"
    (monorepo / "mlci.yaml").write_text(manifest.replace("path: /srv/mlci/artifacts}", f"path: {store}}}"))

    first = mlci(monorepo, "run", "digits", "--job-id", "first")
    assert first.returncode == 0, first.stderr[-3000:]
    record = json.loads((monorepo / ".mlci/runs/digits/first/status.json").read_text())
    assert record["overallStatus"] == "Succeeded"
    assert [s["name"] for s in record["attempts"][0]["stages"]] == ["train", "evaluate"]
    assert record["metrics"]["accuracy"] >= 0.95 and record["gate"]["passed"] is True
    published = store / "digits/first"
    assert {"model.joblib", "metrics.json", "classification_report.txt"} <= {p.name for p in published.iterdir()}
    assert "artifacts: file://" in first.stderr

    second = mlci(monorepo, "run", "digits", "--job-id", "second")
    assert second.returncode == 0
    again = json.loads((monorepo / ".mlci/runs/digits/second/status.json").read_text())
    assert again["build"]["cacheHit"] is True
    assert again["metrics"]["accuracy"] == record["metrics"]["accuracy"]  # seeded split: reproducible
