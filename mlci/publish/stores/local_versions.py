"""The version index of a local store: `<path>/<project>/versions.json`.

A publisher claims the next version while holding an exclusive lock (fcntl.flock on
`<project>/.versions.lock`, a file that is never removed, so every publisher locks the same inode),
reads the index, and writes the new one to a temporary file that is renamed over versions.json: a
reader — who takes no lock — sees the old index or the new one, never half of one. Publishers on
one host, or on hosts sharing a file system whose flock is honoured across hosts (not every NFS
setup), never lose or duplicate a version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from mlci.atomic import exclusive_lock, write_bytes_atomic
from mlci.publish.versions import (
    INDEX_SCHEMA_VERSION,
    VersionEntry,
    VersionIndexError,
    check_schema_version,
    check_sequence,
    parse_entry,
    parse_json,
    same_job,
    version_name,
)
from mlci.record.store import RunRecord

INDEX_NAME = "versions.json"
LOCK_NAME = ".versions.lock"


class LocalIndex:
    def __init__(self, project_dir: Path, project: str):
        self.project_dir = project_dir
        self.project = project
        self.path = project_dir / INDEX_NAME

    def read(self) -> list[VersionEntry]:
        """The versions, oldest first; [] when there is no index yet."""
        where = str(self.path)
        if not self.path.exists() and not self.path.is_symlink():
            return []
        if self.path.is_symlink() or not self.path.is_file():
            raise VersionIndexError(f"version index {where} is not a regular file; left as it is")
        data = parse_json(self.path.read_bytes(), where)
        check_schema_version(data, where)
        if data.get("project") != self.project:
            raise VersionIndexError(
                f"version index {where} is not {self.project}'s ({str(data.get('project'))[:40]!r})"
            )
        versions = data.get("versions")
        if not isinstance(versions, list):
            raise VersionIndexError(f"version index {where}: versions is not a list; left as it is")
        return check_sequence(
            [parse_entry(item, f"{where} [{i}]") for i, item in enumerate(versions)], self.project, where
        )

    def claim(self, record: RunRecord, url: str, make_entry: Callable[[str], VersionEntry]) -> VersionEntry:
        with exclusive_lock(self.project_dir / LOCK_NAME):
            entries = self.read()  # under the lock: nobody writes between this read and our rename
            existing = same_job(entries, record, url)
            if existing is not None:
                return existing
            entry = make_entry(version_name(len(entries) + 1))
            index = {
                "schemaVersion": INDEX_SCHEMA_VERSION,
                "project": self.project,
                "versions": [e.to_json() for e in (*entries, entry)],
            }
            write_bytes_atomic(self.path, (json.dumps(index, indent=2) + "\n").encode(), mode=0o644)
            return entry
