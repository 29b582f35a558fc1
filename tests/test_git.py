"""The one Git helper (mlci/git.py): never prompts, bounded in time and output, clear errors."""

from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path

import pytest

from mlci.errors import MlciError, UsageError
from mlci.git import GitError, git, git_or_none, git_text, head_commit, is_dirty


def _repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.email", "t@example.invalid"],
        ["config", "user.name", "t"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "big.txt").write_text("x" * 5000)
    subprocess.run(["git", "add", "big.txt"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "one"], cwd=path, check=True)
    return path


@pytest.fixture
def repo(tmp_path):
    return _repo(tmp_path / "repo")


def test_answers_from_a_real_repository(repo, tmp_path):
    sha = head_commit(repo)
    assert sha and len(sha) == 40 and git_text(repo, "rev-parse", "HEAD").strip() == sha
    assert not is_dirty(repo)
    (repo / "new.txt").write_text("n")
    assert is_dirty(repo)
    (tmp_path / "plain").mkdir()
    assert head_commit(tmp_path / "plain") is None and git_or_none(tmp_path / "plain", "rev-parse", "HEAD") is None


def test_a_failing_command_says_what_git_said(repo):
    with pytest.raises(GitError) as info:
        git(repo, "rev-parse", "--verify", "no-such-ref")
    assert info.value.returncode != 0
    assert str(info.value).startswith("git rev-parse --verify no-such-ref failed: fatal:")


def test_output_is_bounded(repo):
    assert len(git(repo, "cat-file", "blob", "HEAD:big.txt")) == 5000
    with pytest.raises(MlciError, match=r"printed more than 1,000 bytes"):
        git(repo, "cat-file", "blob", "HEAD:big.txt", max_output=1000)


def test_input_of_any_size_cannot_deadlock(repo):
    request = b"HEAD:big.txt\n" * 2000  # ~10 MB of answers to ~26 KB of questions
    out = git(repo, "cat-file", "--batch", input=request)
    assert out.count(b"blob 5000\n") == 2000


def test_a_hung_command_is_stopped_with_what_it_started(repo, tmp_path):
    # The alias's shell inherits stdout: stopping Git alone would leave the read waiting for the shell,
    # which would then write the marker. Stopped as a group, the shell never gets that far.
    marker = tmp_path / "finished"
    with pytest.raises(MlciError, match=r"did not finish within 0.5 s"):
        git(repo, "-c", f"alias.hang=!sleep 10; touch {marker}", "hang", timeout=0.5)
    assert not marker.exists()


class _AuthRequired(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # what a private repository answers: a credential challenge
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="private"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_credential_prompt_fails_instead_of_waiting(repo):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AuthRequired)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/acme/private.git"
        with pytest.raises(GitError) as info:
            git(repo, "-c", "credential.helper=", "ls-remote", url, timeout=60)
    finally:
        server.shutdown()
    assert "terminal prompts disabled" in info.value.stderr


def test_missing_git_is_a_usage_error(repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo))
    with pytest.raises(UsageError, match="git is not installed"):
        git(repo, "status")
    assert git_or_none(repo, "status") is None
