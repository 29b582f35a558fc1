"""The rendered ci.yml, run by nektos/act in a team's repository that is not mlci's own: checkout
and setup-python are local stand-ins (tests/workflows/actions), mlci comes from its wheel on a
package index on 127.0.0.1, and every step of the workflow must pass as it would on GitHub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from act_support import git, run_act

from mlci import __version__

pytestmark = pytest.mark.slow


def scratch_team_repo(root: Path, index: str) -> Path:
    """A team's monorepo (its own pyproject.toml and tests) adopting mlci as the README says."""
    repo = root / "team-ml"
    (repo / "src" / "teamapp").mkdir(parents=True)
    (repo / "tests").mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", "https://github.com/team/ml.git")
    (repo / "pyproject.toml").write_text('[project]\nname = "teamapp"\nversion = "7.1"\n')
    (repo / "src" / "teamapp" / "__init__.py").write_text('"""The team\'s own code."""\n')
    (repo / "tests" / "test_teamapp.py").write_text("def test_truth():\n    assert 1 + 1 == 2\n")
    mlci = [sys.executable, "-m", "mlci", "--root", str(repo)]
    for args in (["init"], ["new", "vision"]):
        done = subprocess.run([*mlci, *args], capture_output=True, text=True, cwd=repo)
        assert done.returncode == 0, done.stderr
    manifest = (repo / "mlci.yaml").read_text()
    pin = f'mlci: {{version: "{__version__}"}}'
    assert pin in manifest
    (repo / "mlci.yaml").write_text(manifest.replace(pin, f'mlci: {{version: "{__version__}", index_url: "{index}"}}'))
    done = subprocess.run([*mlci, "render"], capture_output=True, text=True, cwd=repo)
    assert done.returncode == 0, done.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Adopt mlci")
    github = root / "github" / "team"
    github.mkdir(parents=True)
    git(root, "clone", "-q", "--bare", str(repo), str(github / "ml.git"))
    return repo


def opened_pull_request(repo: Path) -> dict:
    head = git(repo, "rev-parse", "HEAD")
    return {
        "action": "opened",
        "number": 5,
        "repository": {"full_name": "team/ml", "name": "ml", "owner": {"login": "team"}, "default_branch": "main"},
        "pull_request": {
            "number": 5,
            "head": {"ref": "feature/vision", "sha": head},
            "base": {"ref": "main", "sha": git(repo, "rev-parse", "HEAD")},
        },
    }


def test_the_rendered_ci_workflow_passes_in_a_team_repository(tmp_path, local_index):
    repo = scratch_team_repo(tmp_path, local_index)
    done = run_act(
        repo,
        "ci.yml",
        "pull_request",
        opened_pull_request(repo),
        secrets={"GITHUB_TOKEN": "ghs_test_stand_in"},
        env={"STANDIN_GIT_ROOT": str(tmp_path / "github")},
        home=tmp_path / "act-home",
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out[-5000:] + done.stderr[-2000:]
    for step in (
        "Install",
        "Lint",
        "Unit tests",
        "Validate the manifest and projects",
        "Rendered files are up to date",
    ):
        assert f"Success - Main {step}" in out, step
    assert "Successfully installed" in out and f"mlci-{__version__}" in out  # from the local index
    assert "1 passed" in out  # the team's own test suite ran
    assert "rendered files are up to date" in out
    assert "LocalRepositoryCache not matched" not in out  # no action was fetched from GitHub


def test_the_rendered_ci_workflow_fails_on_a_stale_render(tmp_path, local_index):
    """`mlci render --check` in ci.yml is what catches a project added without rendering (its
    Jenkins job is missing from casc.yaml)."""
    repo = scratch_team_repo(tmp_path, local_index)
    added = subprocess.run([sys.executable, "-m", "mlci", "--root", str(repo), "new", "speech"], capture_output=True)
    assert added.returncode == 0, added.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Add a project, forget to render")
    git(repo, "push", "-q", str(tmp_path / "github" / "team" / "ml.git"), "main")
    done = run_act(
        repo,
        "ci.yml",
        "pull_request",
        opened_pull_request(repo),
        secrets={"GITHUB_TOKEN": "ghs_test_stand_in"},
        env={"STANDIN_GIT_ROOT": str(tmp_path / "github")},
        home=tmp_path / "act-home",
        timeout=600,
    )
    assert done.returncode != 0, done.stdout[-3000:]
    assert "Success - Main Validate the manifest and projects" in done.stdout
    assert "Failure - Main Rendered files are up to date" in done.stdout
