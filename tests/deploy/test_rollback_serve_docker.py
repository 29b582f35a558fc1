"""A version serves with its own serve: settings (project.yaml at its commit), not the checkout's: a
rollback runs v1 the way v1 ran, a later version runs with its commit's command and itest."""

from __future__ import annotations

import json
import subprocess

import pytest

from mlci.deploy.actions import itest_project
from mlci.manifest import load_manifest
from tests.deploy.conftest import environment, serving, undeploy
from tests.record_support import finished_run

pytestmark = pytest.mark.docker

ORIGINAL = "command: python src/serve.py"
CHANGED = "command: exec python src/serve.py"
ITEST = "itest: {run: python src/itest.py"
CHANGED_ITEST = "itest: {run: 'echo itest of commit B; python src/itest.py'"


def _commit(root, message: str) -> str:
    git = ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "commit", "-qm", message, "--", "projects/digits/project.yaml"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def _versions(root) -> dict[str, dict]:
    data = json.loads((root / ".mlci/artifacts/digits/versions.json").read_text())
    return {e["version"]: e for e in data["versions"]}


def test_each_version_serves_with_the_settings_of_its_own_commit(scratch, docker_client):
    undeploy(docker_client, scratch)
    commit_a = _versions(scratch.root)["v1"]["commit"]
    saved = scratch.project_yaml.read_text()
    assert ORIGINAL in saved and ITEST in saved
    # commit B changes the command and the itest; a version is published from it
    scratch.project_yaml.write_text(saved.replace(ORIGINAL, CHANGED).replace(ITEST, CHANGED_ITEST))
    commit_b = _commit(scratch.root, "serve: B")
    model = (scratch.root / ".mlci/artifacts/digits/j2/model.joblib").read_bytes()
    finished_run(scratch.root, "digits", "jb", files={"model.joblib": model}, image_id=scratch.image, commit=commit_b)
    published = scratch.mlci("publish", "digits", "jb", env=environment(scratch.root.parent))
    assert published.returncode == 0, published.stderr
    version_b = max(_versions(scratch.root), key=lambda v: int(v[1:]))
    try:
        # a rollback to v1 while the checkout says B: v1 runs with A's command
        done = scratch.deploy("--version", "v1")
        assert done.returncode == 0, done.stderr
        assert f"serve: settings from {commit_a}:projects/digits/project.yaml" in done.stderr
        assert serving(docker_client, scratch)["Config"]["Cmd"] == ["sh", "-c", "python src/serve.py"]
    finally:
        scratch.project_yaml.write_text(saved)
        _commit(scratch.root, "serve: back to A")
    # the checkout is back to A's settings: B's version still runs with B's command and B's itest
    done = scratch.deploy("--version", version_b)
    assert done.returncode == 0, done.stderr
    assert f"serve: settings from {commit_b}:projects/digits/project.yaml" in done.stderr
    assert serving(docker_client, scratch)["Config"]["Cmd"] == ["sh", "-c", "exec python src/serve.py"]
    said: list[str] = []
    result = itest_project(
        scratch.root, load_manifest(scratch.root), "digits", scratch.env, echo=False, say=said.append
    )
    assert result.passed and result.version == version_b and said == []
    assert "itest of commit B" in result.log.read_text()


def test_a_version_whose_commit_is_not_here_deploys_with_a_notice(scratch, docker_client):
    undeploy(docker_client, scratch)
    done = scratch.deploy("--version", "v4")  # published from a record whose commit this repository lacks
    assert done.returncode == 0, done.stderr
    notice = [line for line in done.stderr.splitlines() if "is not in this repository" in line]
    assert len(notice) == 1
    assert "its serve: settings are read from the checkout's projects/digits/project.yaml" in notice[0]
