"""A version's serve: settings are project.yaml's `serve:` at the version's commit (real Git repositories):
the commit from the version index is checked before Git sees it, and where it is not in the repository
the checkout's settings are used with a notice, never silently."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlci.bundle.source import SourceImage, resolve
from mlci.bundle.write import _draft
from mlci.cli import main
from mlci.errors import ConfigError, MlciError, UsageError
from mlci.manifest import load_manifest
from mlci.publish.version_serve import version_serve
from mlci.publish.versions import VersionEntry
from tests.conftest import commit_all, write_project
from tests.record_support import finished_run

SERVE_A = "serve: {command: python src/serve.py, port: 8080}\n"
SERVE_B = "serve: {command: python src/serve.py --b, port: 9090}\n"


def _repo(tmp_path: Path) -> tuple[Path, str]:
    """Commit A serves on 8080; a later commit B (the checkout) on 9090."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mlci.yaml").write_text(
        "version: 1\nname: t\nartifacts: {default: shelf, stores: {shelf: {type: local, path: shelf}}}\n"
    )
    (root / ".gitignore").write_text("shelf/\n.mlci/\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    write_project(root, "digits", SERVE_A)
    commit_a = commit_all(root)
    write_project(root, "digits", SERVE_B)
    commit_all(root)
    return root, commit_a


def _entry(commit: str | None) -> VersionEntry:
    return VersionEntry(
        version="v1", project="digits", job_id="job-a", store="shelf", url="file:///x", published_at="t", commit=commit
    )


def test_the_settings_are_those_of_the_versions_commit(tmp_path):
    root, commit_a = _repo(tmp_path)
    said: list[str] = []
    got = version_serve(root, _entry(commit_a), said.append)
    assert (got.serve.port, got.serve.command) == (8080, "python src/serve.py")
    assert got.source == f"{commit_a}:projects/digits/project.yaml"
    assert not got.fallback and said == []


@pytest.mark.parametrize(
    ("commit", "why"),
    [(None, "the version index records no commit"), ("ab" * 20, f"its commit {'ab' * 6} is not in this repository")],
)
def test_a_missing_commit_falls_back_to_the_checkout_with_a_notice(tmp_path, commit, why):
    root, _ = _repo(tmp_path)
    said: list[str] = []
    got = version_serve(root, _entry(commit), said.append)
    assert got.serve.port == 9090 and got.fallback
    assert len(said) == 1 and why in said[0]
    assert "read from the checkout's projects/digits/project.yaml" in said[0]


@pytest.mark.parametrize("commit", ["--output=/tmp/x", "HEAD", "abc123", "AB" * 20, "ab" * 20 + "\n"])
def test_a_commit_that_is_not_a_hex_id_is_refused_before_git(tmp_path, commit):
    root, _ = _repo(tmp_path)
    with pytest.raises(MlciError, match="which is not a hex commit id"):
        version_serve(root, _entry(commit), print)


def test_a_version_without_serve_is_refused(tmp_path):
    root, _ = _repo(tmp_path)
    write_project(root, "digits", "gpus: none\n")
    commit = commit_all(root)
    with pytest.raises(UsageError, match=f"digits v1 has no serve: in {commit}:projects/digits/project.yaml"):
        version_serve(root, _entry(commit), print)


def test_bad_settings_at_the_commit_are_located_there(tmp_path):
    root, _ = _repo(tmp_path)
    write_project(root, "digits", "gpus: none\nserve:\n  command: x\n  port: 99999\n")
    commit = commit_all(root)
    with pytest.raises(ConfigError) as caught:
        version_serve(root, _entry(commit), print)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line) == (f"{commit}:projects/digits/project.yaml", 4)


def test_an_oversized_project_yaml_at_the_commit_is_not_read(tmp_path):
    root, _ = _repo(tmp_path)
    write_project(root, "digits", SERVE_A + "#" * (2 << 20) + "\n")
    commit = commit_all(root)
    with pytest.raises(ConfigError, match="over the 1048576 byte limit"):
        version_serve(root, _entry(commit), print)


def test_a_bundle_of_v1_carries_v1s_serve_settings(tmp_path):
    root, commit_a = _repo(tmp_path)
    finished_run(root, "digits", "job-a", files={"model.joblib": b"weights"}, commit=commit_a)
    assert main(["--root", str(root), "publish", "digits", "job-a"]) == 0
    said: list[str] = []
    source = resolve(root, load_manifest(root), "digits", "v1", None, say=said.append)
    assert source.serve_source == f"{commit_a}:projects/digits/project.yaml" and said == []
    image = SourceImage("sha256:" + "ab" * 32, "sha256:" + "ab" * 32, 1)
    drafted = _draft(source, image, datetime.now(UTC))
    assert (drafted.serve.port, drafted.serve.command) == (8080, "python src/serve.py")
    assert drafted.commit == commit_a
