"""Fixtures for the edge-bundle tests: a repository with a published version (no Docker), and —
for the Docker tests — the digits example trained and published once per session, and a second
Docker engine in a container that has never seen the first engine's images."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlci.cli import main
from tests.bundle.second_engine import SecondEngine, ensure_image
from tests.conftest import REPO, commit_all, mlci, write_project
from tests.record_support import finished_run

SERVE = """\
    serve: {command: python src/serve.py, port: 8080}
"""


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A repository whose project `digits` (with serve:) has v1 in the local store `shelf`."""
    (tmp_path / "mlci.yaml").write_text(
        "version: 1\nname: t\nartifacts:\n  default: shelf\n  stores:\n    shelf: {type: local, path: shelf}\n"
        "    hub: {type: huggingface, repo: acme/models}\n"
    )
    write_project(tmp_path, "digits", SERVE)
    write_project(tmp_path, "plain", "gpus: none\n")
    finished_run(tmp_path, "digits", "job-a", files={"model.joblib": b"weights", "metrics.json": b"{}"})
    assert main(["--root", str(tmp_path), "publish", "digits", "job-a"]) == 0
    return tmp_path


@pytest.fixture(scope="session")
def digits_version(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Path:
    """A scratch monorepo where `mlci run digits` built the example's image, trained it and
    published v1 to its local store (the image is cached by content, so later sessions reuse it)."""
    root = tmp_path_factory.mktemp("bundle-repo") / "repo"
    (root / "projects").mkdir(parents=True)
    shutil.copytree(REPO / "projects" / "digits", root / "projects" / "digits")
    manifest = (REPO / "mlci.yaml").read_text()
    assert "path: /srv/mlci/artifacts}" in manifest
    (root / "mlci.yaml").write_text(manifest.replace("path: /srv/mlci/artifacts}", f"path: {root / 'store'}}}"))
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    commit_all(root)
    env = {"MLCI_CACHE_DIR": str(root.parent / "cache")}
    run = mlci(root, "run", "digits", "--job-id", "bundle-1", "-q", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def second_engine(base_image: str):
    """A second Docker engine, empty, in a container of the first (removed with its volume at the end)."""
    engine = SecondEngine(ensure_image(base_image))
    try:
        engine.start()
        yield engine
    finally:
        engine.remove()
