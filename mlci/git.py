"""The little we need from Git: the source commit and whether the tree is dirty."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def head_commit(root: Path) -> str | None:
    return _git(root, "rev-parse", "HEAD")


def is_dirty(root: Path, path: str | None = None) -> bool:
    # mlci's own run records and artifacts never make a tree dirty, gitignored or not
    args = ["status", "--porcelain", "--untracked-files=normal", "--", path or ".", ":(exclude).mlci"]
    out = _git(root, *args)
    return bool(out)
