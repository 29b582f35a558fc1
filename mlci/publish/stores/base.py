"""What every artifact store provides."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from mlci.boundary import DEFAULT_MAX_BYTES, scan_outputs
from mlci.contract import JOB_ID_RE, PROJECT_RE
from mlci.errors import MlciError, UsageError
from mlci.publish.stores.promotions import Promotions
from mlci.publish.versions import VersionEntry, VersionsUnsupported
from mlci.record.store import RunRecord

MB = 1024 * 1024


class ArtifactStore(ABC):
    # what a store copies or uploads passes mlci.boundary; open_store sets runner.max_output_size
    max_output_bytes: int = DEFAULT_MAX_BYTES

    def __init__(self, name: str):
        self.name = name

    @abstractmethod
    def publish(self, record: RunRecord, outputs: Path) -> str:
        """Publish `outputs` of `record`'s run completely or not at all; return the artifact URL.

        Publishing the same job again with the same content is idempotent: it returns the existing
        URL. Different content under an existing job id is refused (RepublishConflict): the store
        would otherwise report success while keeping the older model.
        """

    # ------------------------------------------------------------ model versions
    supports_versions = False  # a store type that keeps a race-free version index says so

    def prepare_versions(self, project: str) -> None:
        """Before anything is uploaded: refuse now if this store cannot keep versions after all."""
        return None  # a store whose versions need no check before the upload

    def claim_version(self, record: RunRecord, url: str, make_entry: Callable[[str], VersionEntry]) -> VersionEntry:
        """Add `make_entry(<the next version>)` to the project's index, atomically and last; a job
        already in the index with this URL keeps the version it has."""
        raise self._unsupported()

    def versions(self, project: str) -> list[VersionEntry]:
        """The project's versions in this store, oldest first."""
        raise self._unsupported()

    def fetch_version(self, entry: VersionEntry, dest: Path) -> None:
        """Write the outputs of `entry` (a version in this store's index) into `dest`, a fresh empty
        directory, as this store holds them: what a promotion from this store copies."""
        raise self._unsupported()

    # ------------------------------------------------------------ promotions
    def promotions(self, project: str) -> Promotions:
        """The project's promotion and itest logs in this store (see stores/promotions.py)."""
        raise UsageError(
            f"store '{self.name}' ({type(self).__name__}) cannot hold an environment's promotions",
            hint="point the environment's store at a local or s3 store (see README: Environments and promotion)",
        )

    def _unsupported(self) -> VersionsUnsupported:
        return VersionsUnsupported(
            f"store '{self.name}' ({type(self).__name__}) keeps no model versions",
            hint="model versions are kept by local and s3 stores (see README: Model versions)",
        )


def job_of(entry: VersionEntry) -> tuple[str, str]:
    """(project, job id) of an index entry, both checked: they name a directory or key prefix."""
    if not PROJECT_RE.fullmatch(entry.project) or not JOB_ID_RE.fullmatch(entry.job_id):
        raise MlciError(
            f"{entry.version}: project {entry.project[:40]!r} or job id {entry.job_id[:40]!r} in the version index"
            " is not one mlci writes; nothing was promoted"
        )
    return entry.project, entry.job_id


class RepublishConflict(MlciError):
    """The store already holds different outputs under this project and job id."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(MB), b""):
            digest.update(block)
    return digest.hexdigest()


def output_files(outputs: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Path]:
    """Regular files under `outputs`, sorted; a link, special or sparse file, or too much data
    refuses the whole publish (mlci.boundary), so nothing is silently left out or leaked."""
    return [item.path for item in scan_outputs(outputs, max_bytes=max_bytes)]


def content_entries(outputs: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[dict[str, object]]:
    """What identifies a run's outputs: each file's relative path, size and sha256, sorted by path."""
    return [
        {"path": p.relative_to(outputs).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in output_files(outputs, max_bytes)
    ]


def content_digest(entries: list[dict[str, object]]) -> str:
    """One sha256 over a run's content entries: what a store can keep when it cannot list files."""
    text = "\n".join(f"{e['path']}\0{e['size']}\0{e['sha256']}" for e in sorted(entries, key=lambda e: str(e["path"])))
    return hashlib.sha256(text.encode()).hexdigest()


def refuse_different(store: str, record: RunRecord, existing: list[dict], new: list[dict], where: str) -> None:
    """Raise RepublishConflict unless `existing` and `new` describe the same files."""

    def key(entries: list[dict]) -> dict[str, tuple[object, object]]:
        return {str(e.get("path")): (e.get("size"), e.get("sha256")) for e in entries}

    old, now = key(existing), key(new)
    if old == now:
        return
    changed = sorted(p for p in old.keys() & now.keys() if old[p] != now[p])
    only_old, only_new = sorted(old.keys() - now.keys()), sorted(now.keys() - old.keys())
    detail = "; ".join(
        part
        for part in (
            f"changed: {', '.join(changed[:3])}" if changed else "",
            f"only in the store: {', '.join(only_old[:3])}" if only_old else "",
            f"only in this run: {', '.join(only_new[:3])}" if only_new else "",
        )
        if part
    )
    raise RepublishConflict(
        f"store '{store}' already has different outputs for {record.project} job {record.job_id} at {where} "
        f"({detail}); nothing was published",
        hint="a job id must never be reused for other outputs: publish this run under a new job id "
        "(Jenkins ids are <commit>-<job>-<build>)",
    )
