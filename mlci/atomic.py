"""Writing a file so that readers see either the old or the new content, never a partial one."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def write_text_atomic(path: Path, text: str, *, mode: int | None = None, fsync: bool = True) -> None:
    """Temp file in the same directory, then rename over `path`. `mode` None keeps the temp file's
    owner-only 0600; `fsync` makes the content durable before it becomes visible."""
    write_bytes_atomic(path, text.encode("utf-8"), mode=mode, fsync=fsync)


def write_bytes_atomic(path: Path, content: bytes, *, mode: int | None = None, fsync: bool = True) -> None:
    """write_text_atomic for bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def exclusive_lock(path: Path, *, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created if absent, never through a link, never removed, so
    every holder locks the same inode) for a read-modify-rename of a file beside it. Released when
    the descriptor closes, also if the process dies. `waiting` is called once when another holder
    makes us wait (to say so)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        if waiting is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waiting()
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
