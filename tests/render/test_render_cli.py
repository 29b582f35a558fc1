"""`mlci render` end to end through the CLI: write, --check, --diff, --out, and the secret scan."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from render_support import SCENARIOS

from mlci.cli import main
from mlci.render import load_for_render, plan

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SCENARIOS / "one-host", root, ignore=shutil.ignore_patterns("expected"))
    return root


def run(root: Path, *args: str) -> int:
    return main(["--root", str(root), "render", *args])


def test_render_writes_every_file_then_check_passes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, "--check") == 1
    err = capsys.readouterr().err
    assert "missing: jenkins/casc.yaml" in err and "out of date" in err

    assert run(repo) == 0
    for f in plan(repo):
        assert (repo / f.path).read_text(encoding="utf-8") == f.content
    assert not list(repo.rglob("*.tmp"))  # temp files renamed into place, none left behind
    capsys.readouterr()

    assert run(repo, "--check") == 0
    assert "up to date" in capsys.readouterr().out
    assert run(repo) == 0
    assert "0 written" in capsys.readouterr().out


def test_check_lists_a_stale_file_with_a_unified_diff(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(repo)
    casc = repo / "jenkins" / "casc.yaml"
    casc.write_text(casc.read_text().replace("numExecutors: 2", "numExecutors: 9"))
    capsys.readouterr()
    assert run(repo, "--check") == 1
    captured = capsys.readouterr()
    assert "stale: jenkins/casc.yaml" in captured.err
    assert "--- a/jenkins/casc.yaml\n+++ b/jenkins/casc.yaml" in captured.out
    assert "-        numExecutors: 9\n+        numExecutors: 2" in captured.out  # the host's SSH agent
    assert "compose/docker-compose.yml" not in captured.out + captured.err  # only the drifted file


def test_diff_prints_without_failing_or_writing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, "--diff") == 0
    assert "+++ b/jenkins/casc.yaml" in capsys.readouterr().out
    assert not (repo / "jenkins" / "casc.yaml").exists()


def test_out_writes_elsewhere(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(repo, "--out", str(out)) == 0
    assert (out / "compose" / "frpc.toml").is_file() and not (repo / "compose").exists()
    assert run(repo, "--check", "--out", str(out)) == 0


def test_existing_jenkinsfile_is_the_users(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "Jenkinsfile").write_text("@Library('mlci') _\nmlciRelease(label: 'big')\n")
    run(repo)
    assert (repo / "Jenkinsfile").read_text() == "@Library('mlci') _\nmlciRelease(label: 'big')\n"
    capsys.readouterr()
    assert run(repo, "--check") == 0


def test_manifest_change_is_caught_by_check(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(repo)
    manifest = repo / "mlci.yaml"
    manifest.write_text(manifest.read_text().replace("executors: 2", "executors: 4"))
    capsys.readouterr()
    assert run(repo, "--check") == 1


def test_bad_manifest_exits_2_with_located_problem(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "mlci.yaml").write_text("version: 1\nname: x\nrepository: {url: https://a/b.git}\njenkins: {home: rel}\n")
    assert run(repo) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlci.yaml:4:17: jenkins.home: must be an absolute path") and "Traceback" not in err
    assert not (repo / "jenkins" / "casc.yaml").exists()  # nothing half-written


def test_no_secret_value_reaches_a_rendered_file(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With every secret the manifest names set in the environment (and as Docker secret files, as
    on a host), no value appears in any rendered file or in the command's output."""
    names = [*load_for_render(repo).manifest.secret_names(), "JENKINS_AGENT_SSH_KEY", "MLCI_WEBHOOK_URL"]
    values = {name: f"s3cr3t-{name.lower()}-Zq8" for name in names}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    secrets_dir = repo / "compose" / "secrets"
    secrets_dir.mkdir(parents=True)
    for name, value in values.items():
        (secrets_dir / name).write_text(value)
    assert run(repo) == 0 and run(repo, "--diff") == 0 and run(repo, "--check") == 0
    printed = capsys.readouterr()
    rendered = "".join((repo / f.path).read_text() for f in plan(repo))
    for value in values.values():
        assert value not in rendered and value not in printed.out + printed.err
    for name in ("JENKINS_ADMIN_PASSWORD", "FRP_TOKEN", "MLCI_WEBHOOK_TOKEN"):
        assert name in rendered  # the names are there: the files reference secrets, never hold them


def test_this_repository_is_in_sync() -> None:
    """The committed rendered files of mlci's own repository match its mlci.yaml."""
    assert main(["--root", str(REPO), "render", "--check"]) == 0
