"""The one way mlci runs Git: `git(root, ...)`, and the few questions mlci asks of it.

Every call runs in `root`, never prompts (GIT_TERMINAL_PROMPT=0, stdin closed: a command that
wanted credentials fails instead of hanging a Jenkins build), takes no optional locks (a `git status`
next to a running checkout must not take the index lock), is bounded in time (TIMEOUT_S) and in
output (MAX_OUTPUT_BYTES: a pull request can commit a blob of any size, and mlci reads blobs), and
fails with an MlciError that names the Git command and says what Git said.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from mlci.errors import MlciError, UsageError

TIMEOUT_S = 120
MAX_OUTPUT_BYTES = 64 << 20
_STDERR_SHOWN = 2000


class GitError(MlciError):
    """Git ran and exited non-zero; `returncode` and `stderr` say how."""

    def __init__(self, args: tuple[str, ...], returncode: int, stderr: str):
        detail = stderr.strip()[:_STDERR_SHOWN] or f"exit status {returncode}"
        super().__init__(f"{_shown(args)} failed: {detail}")
        self.returncode = returncode
        self.stderr = stderr


def git(
    root: Path,
    *args: str,
    input: bytes | None = None,
    timeout: float = TIMEOUT_S,
    max_output: int = MAX_OUTPUT_BYTES,
) -> bytes:
    """Run `git ARGS` in `root` and return its standard output; GitError when it exits non-zero."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    # stdin and stderr are files, so reading stdout (bounded) is the only pipe: no deadlock, whatever sizes
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stderr:
        if input is not None:
            stdin.write(input)
            stdin.seek(0)
        try:
            proc = subprocess.Popen(
                ["git", *args],
                cwd=root,
                env=env,
                stdin=stdin if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # its own process group: a timeout also stops what Git started
            )
        except FileNotFoundError:
            raise UsageError("git is not installed", hint="install git and retry") from None
        except OSError as exc:  # root is not a directory, or git is not executable
            raise MlciError(f"{_shown(args)} could not start: {exc.strerror or exc}") from None
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill(proc)

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            assert proc.stdout is not None
            out = proc.stdout.read(max_output + 1)
            if len(out) > max_output:
                _kill(proc)
            proc.stdout.close()
            returncode = proc.wait()
        finally:
            timer.cancel()
        if len(out) > max_output:
            raise MlciError(
                f"{_shown(args)} printed more than {max_output:,} bytes — mlci reads at most that much from Git",
                hint="a file this large does not belong where mlci reads it (mlci.yaml, project.yaml)",
            )
        if expired.is_set():
            raise MlciError(f"{_shown(args)} did not finish within {timeout:g} s", hint="check the repository's health")
        if returncode != 0:
            stderr.seek(0)
            raise GitError(args, returncode, stderr.read(64 << 10).decode(errors="replace"))
    return out


def git_text(root: Path, *args: str, **options) -> str:
    """`git` with the output as text (file names that are not UTF-8 survive as surrogate escapes)."""
    return git(root, *args, **options).decode(errors="surrogateescape")


def git_or_none(root: Path, *args: str) -> str | None:
    """The stripped output, or None when Git is missing, `root` is not a repository, or the command fails:
    for questions whose answer is optional (the source commit of a run, origin's URL)."""
    try:
        return git_text(root, *args).strip()
    except MlciError:
        return None


def _kill(proc: subprocess.Popen) -> None:
    # a helper Git started (ssh, a credential helper, an alias) would keep stdout open after Git itself died
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _shown(args: tuple[str, ...]) -> str:
    text = "git " + " ".join(args)
    return text if len(text) <= 200 else text[:197] + "..."


def head_commit(root: Path) -> str | None:
    return git_or_none(root, "rev-parse", "HEAD")


def is_dirty(root: Path, path: str | None = None) -> bool:
    # mlci's own run records and artifacts never make a tree dirty, gitignored or not
    args = ["status", "--porcelain", "--untracked-files=normal", "--", path or ".", ":(exclude).mlci"]
    out = git_or_none(root, *args)
    return bool(out)
