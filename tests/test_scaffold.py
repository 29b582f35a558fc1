"""`mlci new` scaffolds a project that validates and runs as is."""

from __future__ import annotations

import pytest

from mlci.manifest import load_all
from tests.conftest import mlci


def test_new_project_is_valid_and_complete(monorepo):
    result = mlci(monorepo, "new", "vision")
    assert result.returncode == 0, result.stderr
    project = monorepo / "projects" / "vision"
    assert {p.name for p in project.iterdir()} == {
        "Dockerfile",
        ".dockerignore",
        "run.sh",
        "config.yaml",
        "project.yaml",
        "requirements.txt",
        "src",
        "README.md",
    }
    assert project.joinpath("run.sh").stat().st_mode & 0o111
    assert "mlci run vision" in project.joinpath("README.md").read_text()
    _, projects = load_all(monorepo)
    assert [p.name for p in projects] == ["vision"]

    again = mlci(monorepo, "new", "vision")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = mlci(monorepo, "new", "Bad_Name")
    assert bad.returncode == 2 and not (monorepo / "projects" / "Bad_Name").exists()


@pytest.mark.docker
def test_new_project_runs(monorepo, base_image):
    assert mlci(monorepo, "new", "fresh").returncode == 0
    result = mlci(monorepo, "run", "fresh", "--job-id", "j")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training with learning_rate=0.1 (attempt 1)" in result.stdout
