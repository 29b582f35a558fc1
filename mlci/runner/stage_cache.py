"""The persistent per-host cache, mounted at /mlci/cache in every stage.

Layout under the cache root (MLCI_CACHE_DIR, else `runner.cache_dir`, else ~/.cache/mlci):

    projects/<project>/          mounted at /mlci/cache: shared by the project's jobs and attempts
        huggingface/ pip/ torch/ xdg/      where HF_HOME, PIP_CACHE_DIR, TORCH_HOME, XDG_CACHE_HOME point
    locks/<project>.lock         held shared by every running stage, exclusive by a prune; mtime = last use
    trash/                       a pruned cache is renamed here first, so no stage ever sees half of one

Concurrent stages of one project share the directory: the libraries writing there lock or write
atomically themselves (huggingface_hub's per-blob file locks, pip's and torch.hub's temp-file + rename).
mlci's own lock only keeps `mlci cache prune` from deleting a cache a stage is using.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CONTAINER_CACHE = "/mlci/cache"
# Library caches pointed into the project's cache; a stage may still override any of them.
CACHE_ENV = {
    "HF_HOME": f"{CONTAINER_CACHE}/huggingface",
    "PIP_CACHE_DIR": f"{CONTAINER_CACHE}/pip",
    "TORCH_HOME": f"{CONTAINER_CACHE}/torch",
    "XDG_CACHE_HOME": f"{CONTAINER_CACHE}/xdg",
}
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")


def cache_path(configured: str | os.PathLike | None = None) -> Path:
    """MLCI_CACHE_DIR (per host), else `configured` (runner.cache_dir), else $XDG_CACHE_HOME/mlci,
    else ~/.cache/mlci (not created)."""
    from_env = os.environ.get("MLCI_CACHE_DIR")
    if from_env:
        return Path(from_env)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlci"


def ensure_cache_dir(configured: str | os.PathLike | None = None) -> Path:
    path = cache_path(configured)
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def check_name(project: str) -> str:
    if not _NAME.fullmatch(project):
        raise ValueError(f"not a project cache name: {project!r}")
    return project


def project_dir(root: Path, project: str) -> Path:
    return root / "projects" / check_name(project)


def _lock_path(root: Path, project: str) -> Path:
    return root / "locks" / f"{check_name(project)}.lock"


def prepare_project_cache(root: Path, project: str) -> Path:
    """Create the project's cache and its library subdirectories (owned by the caller, who is the
    stage's UID, so the stage can write there)."""
    directory = project_dir(root, project)
    for env_path in CACHE_ENV.values():
        (directory / env_path.removeprefix(CONTAINER_CACHE + "/")).mkdir(parents=True, exist_ok=True)
    return directory


@contextlib.contextmanager
def using(root: Path, project: str) -> Iterator[Path]:
    """Hold the project's cache for a stage: a shared lock (many stages at once; a prune waits or
    skips) and a last-use mark. Yields the directory to mount."""
    lock = _lock_path(root, project)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # blocks only while a prune renames this cache away
        os.utime(fd)
        yield prepare_project_cache(root, project)
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class CacheEntry:
    project: str
    path: Path
    size: int  # bytes on disk
    last_used: float  # epoch seconds: the last stage that used it (else the directory's mtime)
    in_use: bool


def _tree_stats(path: Path) -> Iterator[os.stat_result]:
    """The lstat of everything under `path` (not `path` itself): links are not followed, what
    vanishes or cannot be read while walking is skipped."""
    stack = [path]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    stack.append(Path(entry.path))
                yield info


def disk_usage(path: Path) -> int:
    """Bytes on disk under `path`, like `du`: links are not followed, hard links counted once."""
    total, seen = 0, set()
    for info in _tree_stats(path):
        if (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total


def _busy(root: Path, project: str) -> bool:
    lock = _lock_path(root, project)
    if not lock.is_file():
        return False
    fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)


def newest_mtime(path: Path) -> float:
    """The latest modification time of `path` or anything under it (links not followed)."""
    return max([path.lstat().st_mtime, *(info.st_mtime for info in _tree_stats(path))])


def trash_leftovers(root: Path) -> list[Path]:
    """What a prune killed between its rename and its delete left in trash/ (nothing uses it any more)."""
    trash = root / "trash"
    if trash.is_symlink() or not trash.is_dir():
        return []
    return sorted(trash.iterdir())


def remove_tree(path: Path) -> None:
    """Remove a directory tree without following a link out of it (a link itself is just unlinked)."""
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    shutil.rmtree(path, ignore_errors=True)


def list_caches(root: Path) -> list[CacheEntry]:
    """One entry per project cache, most recently used first. Symlinks and odd names are ignored."""
    base = root / "projects"
    if not base.is_dir() or base.is_symlink():
        return []
    entries = []
    for child in sorted(base.iterdir()):
        if child.is_symlink() or not child.is_dir() or not _NAME.fullmatch(child.name):
            continue
        lock = _lock_path(root, child.name)
        last = lock.stat().st_mtime if lock.is_file() else child.stat().st_mtime
        entries.append(CacheEntry(child.name, child, disk_usage(child), last, _busy(root, child.name)))
    return sorted(entries, key=lambda e: (-e.last_used, e.project))


@dataclass(frozen=True)
class PruneResult:
    removed: list[CacheEntry]
    kept: list[CacheEntry]
    busy: list[CacheEntry]  # would have been removed, but a stage holds them


def choose(entries: list[CacheEntry], *, older_than_s: float | None, max_size: int | None, now: float) -> list[str]:
    """Projects to remove: those unused for longer than `older_than_s`, then the least recently used
    until the rest fits in `max_size` bytes."""
    doomed = {e.project for e in entries if older_than_s is not None and now - e.last_used > older_than_s}
    if max_size is not None:
        remaining = sum(e.size for e in entries if e.project not in doomed)
        for entry in sorted(entries, key=lambda e: (e.last_used, e.project)):
            if remaining <= max_size:
                break
            if entry.project not in doomed:
                doomed.add(entry.project)
                remaining -= entry.size
    return sorted(doomed)


def prune(
    root: Path, *, older_than_s: float | None = None, max_size: int | None = None, dry_run: bool = False
) -> PruneResult:
    """Remove project caches by age and/or total size. A cache in use by a running stage is never
    touched; a removed one disappears by one rename, then its files are deleted."""
    entries = list_caches(root)
    doomed = set(choose(entries, older_than_s=older_than_s, max_size=max_size, now=time.time()))
    removed, busy = [], []
    for entry in entries:
        if entry.project not in doomed:
            continue
        if dry_run:
            removed.append(entry)
        elif _remove(root, entry.project):
            removed.append(entry)
        else:
            busy.append(entry)
    gone = {e.project for e in removed + busy}
    return PruneResult(removed, [e for e in entries if e.project not in gone], busy)


def _remove(root: Path, project: str) -> bool:
    lock = _lock_path(root, project)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        trash = root / "trash" / f"{project}-{uuid.uuid4().hex[:8]}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(project_dir(root, project), trash)
        except FileNotFoundError:  # another prune got there first
            return True
    finally:
        os.close(fd)
    shutil.rmtree(trash, ignore_errors=True)  # rmtree never follows symlinks out of the tree
    return True


def human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n:.1f} TiB"
