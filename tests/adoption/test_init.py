"""`mlci init` in repositories of any shape: what it writes, what it never overwrites, --force."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlci import __version__
from mlci.cli import main
from mlci.manifest import load_all


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def team(tmp_path: Path) -> Path:
    """A team's repository that is not mlci's: its own pyproject.toml, Makefile, .github/ and .gitignore."""
    root = tmp_path / "Acme_Vision.ML"
    (root / "src" / "acme").mkdir(parents=True)
    (root / ".github" / "workflows").mkdir(parents=True)
    files = {
        "pyproject.toml": '[project]\nname = "acme-vision"\nversion = "2.0"\n',
        "Makefile": "test:\n\tpytest\n",
        ".github/workflows/lint.yml": "name: lint\n",
        ".gitignore": "*.pyc",  # no trailing newline: init must not glue its entry onto this line
        "src/acme/__init__.py": "",
    }
    for rel, text in files.items():
        (root / rel).write_text(text)
    git(root, "init", "-q", "-b", "trunk")
    git(root, "remote", "add", "origin", "https://bot:ghp_secretTOKEN123@github.com/acme/vision.git")
    return root


def init(root: Path, *args: str) -> int:
    return main(["--root", str(root), "init", *args])


def test_init_writes_a_valid_manifest_an_example_the_jenkinsfile_and_gitignore(
    team: Path, capsys: pytest.CaptureFixture
) -> None:
    before = {p: p.read_bytes() for p in team.rglob("*") if p.is_file() and ".git/" not in str(p)}
    assert init(team) == 0
    out = capsys.readouterr().out
    manifest = yaml.safe_load((team / "mlci.yaml").read_text())
    assert manifest["name"] == "acme-vision-ml"
    assert manifest["mlci"] == {"version": __version__}
    # origin's URL without the token in it, the checked-out branch for releases and the library
    assert manifest["repository"] == {
        "url": "https://github.com/acme/vision.git",
        "branch": "trunk",
        "credentials": "GITHUB_TOKEN",
    }
    assert manifest["jenkins"]["library"]["version"] == "trunk"
    assert "ghp_secretTOKEN123" not in (team / "mlci.yaml").read_text() + out
    assert (team / "mlci.yaml").read_text().startswith("# mlci's manifest")  # commented
    assert "@Library('mlci') _" in (team / "Jenkinsfile").read_text()
    assert (team / "projects" / "example" / "run.sh").stat().st_mode & 0o111
    assert (team / ".gitignore").read_text() == "*.pyc\n# mlci's run records and artifacts\n.mlci/\n"
    # the team's own files are untouched (.gitignore only gained its entry)
    for path, content in before.items():
        if path.name != ".gitignore":
            assert path.read_bytes() == content, path
    manifest_model, projects = load_all(team)
    assert manifest_model.name == "acme-vision-ml" and [p.name for p in projects] == ["example"]
    steps = [line for line in out.splitlines() if line.startswith(("  1.", "  2.", "  3."))]
    assert len(steps) == 3 and "mlci run example" in steps[0] and "ansible-playbook" in steps[2]
    assert main(["--root", str(team), "validate"]) == 0


def test_init_never_overwrites_and_names_every_conflict(team: Path, capsys: pytest.CaptureFixture) -> None:
    (team / "Jenkinsfile").write_text("pipeline { /* the team's own */ }\n")
    (team / "projects" / "example").mkdir(parents=True)
    (team / "projects" / "example" / "keep.txt").write_text("mine")
    assert init(team) == 2
    err = capsys.readouterr().err
    assert "would overwrite Jenkinsfile, projects/example/" in err and "--force" in err
    assert (team / "Jenkinsfile").read_text() == "pipeline { /* the team's own */ }\n"
    assert not (team / "mlci.yaml").exists()  # nothing at all is written when one file conflicts
    assert (team / ".gitignore").read_text() == "*.pyc"
    assert (team / "projects" / "example" / "keep.txt").read_text() == "mine"


def test_a_second_init_refuses_and_force_replaces(team: Path, capsys: pytest.CaptureFixture) -> None:
    assert init(team) == 0
    (team / "mlci.yaml").write_text("version: 1\nname: edited\n")
    assert init(team) == 2
    assert "would overwrite mlci.yaml, Jenkinsfile, projects/example/" in capsys.readouterr().err
    assert (team / "mlci.yaml").read_text() == "version: 1\nname: edited\n"
    assert init(team, "--force") == 0
    assert yaml.safe_load((team / "mlci.yaml").read_text())["name"] == "acme-vision-ml"
    assert (team / ".gitignore").read_text().count(".mlci/") == 1  # the entry is not repeated


def test_init_with_an_ssh_origin_writes_a_key_and_a_host_key_policy(team: Path) -> None:
    git(team, "remote", "set-url", "origin", "git@github.com:acme/vision.git")
    assert init(team) == 0
    repo = yaml.safe_load((team / "mlci.yaml").read_text())["repository"]
    assert repo["url"] == "git@github.com:acme/vision.git" and repo["ssh_key"] == "GIT_SSH_KEY"
    assert repo["host_key_policy"] == "known_hosts" and "credentials" not in repo


def test_init_without_origin_leaves_the_repository_for_the_user(team: Path, capsys: pytest.CaptureFixture) -> None:
    git(team, "remote", "remove", "origin")
    assert init(team) == 0
    assert "repository" not in yaml.safe_load((team / "mlci.yaml").read_text())
    assert "no usable `origin` remote" in capsys.readouterr().out


def test_init_outside_a_git_repository_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert init(plain) == 2
    assert "is not inside a Git repository" in capsys.readouterr().err
    assert list(plain.iterdir()) == []


def test_init_then_render_works_next_to_the_teams_own_files(team: Path, capsys: pytest.CaptureFixture) -> None:
    assert init(team) == 0
    assert main(["--root", str(team), "render"]) == 0
    # the team's workflow and pyproject stay; mlci's workflows and the library join them
    assert (team / ".github/workflows/lint.yml").read_text() == "name: lint\n"
    assert (team / "pyproject.toml").read_text().startswith('[project]\nname = "acme-vision"')
    assert (team / ".github/workflows/ci.yml").is_file() and (
        team / "jenkins/library/vars/mlciRelease.groovy"
    ).is_file()
    assert (team / "ansible/site.yml").is_file() and (team / "ansible/roles/jenkins_agent/tasks/main.yml").is_file()
    assert main(["--root", str(team), "render", "--check"]) == 0


def test_new_skips_the_bytecode_pip_compiles_into_the_installed_assets(tmp_path: Path, monkeypatch) -> None:
    """pip byte-compiles mlci/assets/project/src/train.py on install: `mlci new` must not copy it."""
    from importlib import resources

    from mlci.adopt.scaffold import scaffold

    assets = tmp_path / "mlci" / "assets" / "project"
    shutil.copytree(resources.files("mlci") / "assets" / "project", assets)
    (assets / "src" / "__pycache__").mkdir()
    (assets / "src" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\xa7\r\r\n\x00binary")
    monkeypatch.setattr("mlci.adopt.scaffold.resources.files", lambda _pkg: tmp_path / "mlci")
    created = scaffold(tmp_path / "repo", "vision")
    assert (created / "src" / "train.py").is_file() and not (created / "src" / "__pycache__").exists()
