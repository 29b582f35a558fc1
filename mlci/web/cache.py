"""The records the pages show, read again only when a status.json changed.

Reading 1,000 records costs a few hundred milliseconds (JSON and validation); a walk that stats
each status.json costs a few. So every request takes that cheap fingerprint and calls
`iter_records` (the one reader of records) only when it differs from the last one; a run that
is live changes its record and so is always read fresh.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from mlci.contract import STATUS_FILE
from mlci.record.readers import iter_records
from mlci.record.store import RunRecord, runs_dir

Fingerprint = frozenset[tuple[str, int, int]]


def fingerprint(base: Path) -> Fingerprint:
    """(path, mtime, size) of every `<project>/<job>/status.json` below `base`."""
    seen: set[tuple[str, int, int]] = set()
    try:
        projects = list(os.scandir(base))
    except OSError:
        return frozenset()
    for project in projects:
        if not project.is_dir(follow_symlinks=False):
            continue
        try:
            jobs = list(os.scandir(project.path))
        except OSError:
            continue
        for job in jobs:
            if not job.is_dir(follow_symlinks=False):
                continue
            try:
                info = os.stat(os.path.join(job.path, STATUS_FILE), follow_symlinks=False)
            except OSError:
                continue
            seen.add((job.path, info.st_mtime_ns, info.st_size))
    return frozenset(seen)


class RecordCache:
    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        self._key: Fingerprint | None = None
        self._value: tuple[list[RunRecord], list[str]] = ([], [])

    def records(self) -> tuple[list[RunRecord], list[str]]:
        """Every readable record, newest first, and a line for each unreadable one."""
        key = fingerprint(runs_dir(self.root))
        with self._lock:
            if key != self._key:
                unreadable: list[str] = []
                self._value = (list(iter_records(self.root, report=unreadable.append)), unreadable)
                self._key = key
            return self._value
