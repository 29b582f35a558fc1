"""A run's logs, read in bounded pieces: a tail for the page, then what grew after an offset.

A stage log can reach hundreds of megabytes; neither the server nor the browser ever holds more
than MAX_CHUNK of it at a time. Logs are named by the record (`attempt-1/train.log`), and a record
is other people's text: a name that leaves the run's directory (`..`, an absolute path, a symlink
anywhere on the way) is refused rather than followed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from mlci.record.store import RunRecord

TAIL_BYTES = 64 << 10  # what the run page shows of a log at first
MAX_CHUNK = 256 << 10  # the most one response carries


@dataclass(frozen=True)
class LogRef:
    """A log the record names: `key` is how the dashboard's URLs name it (build, or A/STAGE)."""

    key: str
    label: str
    relative: str


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # the byte offset `text` starts at
    end: int  # where the next read continues
    size: int  # the file's size when read
    exists: bool


def log_refs(record: RunRecord) -> list[LogRef]:
    """The build log, then every stage's, in the order they were written."""
    refs = [LogRef("build", "build", record.state.build.log)]
    for attempt in record.state.attempts:
        for index, stage in enumerate(attempt.stages):
            refs.append(LogRef(f"{attempt.n}-{index}", f"{attempt.n}/{stage.name}", stage.log))
    return refs


def find_ref(record: RunRecord, key: str) -> LogRef | None:
    return next((ref for ref in log_refs(record) if ref.key == key), None)


def current_ref(record: RunRecord) -> LogRef | None:
    """The log of the stage running now (or the last one that ran), else the build's."""
    refs = log_refs(record)
    return refs[-1] if refs else None


def _open_inside(directory: Path, relative: str) -> int | None:
    """A read-only descriptor of `relative` below `directory`, or None when it is absent or would
    leave it. Each component is opened with O_NOFOLLOW relative to its parent, so neither `..` nor
    a symlink (planted by whoever wrote the run's directory) can lead elsewhere."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in relative:
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(directory, flags | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            child = os.open(part, flags | (0 if last else os.O_DIRECTORY) | os.O_NONBLOCK, dir_fd=fd)
            os.close(fd)
            fd = child
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd
    except OSError:
        os.close(fd)
        return None


def read_chunk(record: RunRecord, ref: LogRef, offset: int | None, limit: int = MAX_CHUNK) -> Chunk:
    """At most `limit` bytes from `offset`; `offset=None` means the tail. Text is cut at a UTF-8
    boundary so a multi-byte character split by the limit arrives whole with the next read."""
    limit = max(1, min(limit, MAX_CHUNK))
    fd = _open_inside(record.dir, ref.relative)
    if fd is None:
        return Chunk("", 0, 0, 0, False)
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        start = max(0, size - min(limit, TAIL_BYTES)) if offset is None else max(0, min(offset, size))
        handle.seek(start)
        data = handle.read(min(limit, size - start))
    if offset is None and start > 0:  # a tail starts after the first newline, not mid-line
        cut = data.find(b"\n")
        if 0 <= cut < len(data) - 1:
            start, data = start + cut + 1, data[cut + 1 :]
    keep = _whole_utf8(data)
    return Chunk(data[:keep].decode("utf-8", errors="replace"), start, start + keep, size, True)


def _whole_utf8(data: bytes) -> int:
    """How many leading bytes of `data` end on a character boundary (drops at most 3)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:  # ASCII: nothing is left open
            return len(data)
        if byte >= 0xC0:  # a lead byte: is its sequence complete?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= need else len(data) - back
    return len(data)
