"""The records the pages show, each project's read again only when one of its status.json changed.

Reading 1,000 records costs a few hundred milliseconds (JSON and validation); a walk that stats
each status.json costs a few. So every request takes that cheap fingerprint, project by project,
and calls `iter_records` (the one reader of records) only for a project whose fingerprint
differs from the last one: a live run re-reads its own project, not every other.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from mlci.contract import STATUS_FILE
from mlci.record.readers import iter_records
from mlci.record.store import RunRecord, runs_dir

Fingerprint = frozenset[tuple[str, int, int]]


def _project_dirs(base: Path) -> list[os.DirEntry]:
    try:
        return [entry for entry in os.scandir(base) if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def fingerprint(project_dir: str) -> Fingerprint:
    """(job, mtime, size) of every `<job>/status.json` of one project."""
    seen: set[tuple[str, int, int]] = set()
    try:
        jobs = list(os.scandir(project_dir))
    except OSError:
        return frozenset()
    for job in jobs:
        if not job.is_dir(follow_symlinks=False):
            continue
        try:
            info = os.stat(os.path.join(job.path, STATUS_FILE), follow_symlinks=False)
        except OSError:
            continue
        seen.add((job.name, info.st_mtime_ns, info.st_size))
    return frozenset(seen)


@dataclass
class _Project:
    key: Fingerprint
    records: list[RunRecord]
    unreadable: list[str]


class RecordCache:
    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        self._projects: dict[str, _Project] = {}

    def records(self) -> tuple[list[RunRecord], list[str]]:
        """Every readable record, newest first (as iter_records orders them), and a line for
        each unreadable one."""
        with self._lock:
            current: dict[str, _Project] = {}
            for entry in _project_dirs(runs_dir(self.root)):
                key = fingerprint(entry.path)
                known = self._projects.get(entry.name)
                if known is None or known.key != key:
                    unreadable: list[str] = []
                    found = list(iter_records(self.root, entry.name, report=unreadable.append))
                    known = _Project(key, found, unreadable)
                current[entry.name] = known
            self._projects = current
        records = [r for name in sorted(current) for r in current[name].records]
        records.sort(key=lambda r: r.state.created_at, reverse=True)
        return records, [line for name in sorted(current) for line in current[name].unreadable]
