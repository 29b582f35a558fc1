"""A directory tree `<path>/<project>/<job-id>/`, made visible by one atomic rename, with a
`latest` symlink switched (also atomically) only after the copy is complete. Only what
mlci.boundary lets cross is copied: regular files, never through a link."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from mlci.boundary import copy_outputs, scan_outputs
from mlci.errors import MlciError
from mlci.publish.stores.base import ArtifactStore, content_entries, job_of, refuse_different
from mlci.publish.stores.local_promotions import LocalPromotions
from mlci.publish.stores.local_versions import LocalIndex
from mlci.publish.versions import VersionEntry
from mlci.record.store import RunRecord


class LocalStore(ArtifactStore):
    supports_versions = True  # <path>/<project>/versions.json, see local_versions

    def __init__(self, name: str, path: Path):
        super().__init__(name)
        self.path = path

    def claim_version(self, record: RunRecord, url: str, make_entry: Callable[[str], VersionEntry]) -> VersionEntry:
        return LocalIndex(self.path / record.project, record.project).claim(record, url, make_entry)

    def versions(self, project: str) -> list[VersionEntry]:
        return LocalIndex(self.path / project, project).read()

    def fetch_version(self, entry: VersionEntry, dest: Path) -> None:
        project, job_id = job_of(entry)
        source = self.path / project / job_id
        if source.is_symlink() or not source.is_dir():
            raise MlciError(f"{entry.version} of {entry.project}: its outputs {source} are missing from the store")
        copy_outputs(scan_outputs(source, max_bytes=self.max_output_bytes), dest)

    def promotions(self, project: str) -> LocalPromotions:
        return LocalPromotions(self.path / project, project, max_bytes=self.max_output_bytes)

    def publish(self, record: RunRecord, outputs: Path) -> str:
        project_dir = self.path / record.project
        final = project_dir / record.job_id
        project_dir.mkdir(parents=True, exist_ok=True)
        if final.exists():  # idempotent re-publish: same URL, and `latest` never moves back
            refuse_different(
                self.name,
                record,
                content_entries(final, self.max_output_bytes),
                content_entries(outputs, self.max_output_bytes),
                str(final),
            )
            if not (project_dir / "latest").is_symlink():
                self._point_latest(project_dir, record.job_id)
            return final.resolve().as_uri()
        staging = Path(tempfile.mkdtemp(prefix=f".{record.job_id}.partial-", dir=project_dir))
        try:
            copy_outputs(scan_outputs(outputs, max_bytes=self.max_output_bytes), staging)
            staging.chmod(0o755)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._point_latest(project_dir, record.job_id)
        return final.resolve().as_uri()

    @staticmethod
    def _point_latest(project_dir: Path, job_id: str) -> None:
        tmp = project_dir / f".latest.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(job_id)
        os.replace(tmp, project_dir / "latest")
