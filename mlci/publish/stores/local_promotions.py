"""Promotions in a local store: `<path>/<project>/envs/<env>/<version>/` (the promoted outputs),
`<project>/envs/<env>/current` (a symlink to the current one) and the log `<project>/promotions.json`.

The same discipline as the version index (local_versions.py): a promoter holds an exclusive lock
(fcntl.flock on `<project>/.promotions.lock`, never removed) from reading the log until the new log
was renamed over the old one, so two promoters never lose each other's entry, and a reader — who
takes no lock — sees the old log or the new one. The log is read before anything is copied: a log
mlci cannot trust refuses the promotion and is never written over.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from mlci.atomic import exclusive_lock, write_bytes_atomic
from mlci.boundary import DEFAULT_MAX_BYTES, copy_outputs, scan_outputs
from mlci.contract import JOB_ID_RE
from mlci.errors import MlciError
from mlci.manifest.fields import NAME_RE
from mlci.publish.promotion_log import Promotion, PromotionLogError, in_env, log_json, parse_log
from mlci.publish.stores.base import content_digest, content_entries
from mlci.publish.versions import MAX_INDEX_BYTES, VersionEntry

LOG_NAME = "promotions.json"
LOCK_NAME = ".promotions.lock"
ENVS_DIR = "envs"
CURRENT = "current"


class LocalPromotions:
    def __init__(self, project_dir: Path, project: str, *, max_bytes: int = DEFAULT_MAX_BYTES):
        self.project_dir = project_dir
        self.project = project
        self.path = project_dir / LOG_NAME
        self.max_bytes = max_bytes

    def read(self) -> list[Promotion]:
        """Every promotion, oldest first; [] when nothing was promoted yet."""
        where = str(self.path)
        if not self.path.exists() and not self.path.is_symlink():
            return []
        if self.path.is_symlink() or not self.path.is_file():
            raise PromotionLogError(f"promotion log {where} is not a regular file; left as it is")
        data = self.path.read_bytes()
        if len(data) > MAX_INDEX_BYTES:
            raise PromotionLogError(f"promotion log {where} is {len(data)} bytes, more than mlci writes")
        try:
            parsed = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise PromotionLogError(
                f"promotion log {where} is not valid JSON ({exc}); left as it is",
                hint="restore it from a backup; mlci never rewrites a log it cannot read",
            ) from None
        return parse_log(parsed, self.project, where)

    def promote(
        self,
        env: str,
        entry: VersionEntry,
        source_project_dir: Path,
        make: Callable[[str | None, str], Promotion],
    ) -> tuple[Promotion, bool]:
        """Copy `entry`'s outputs from `source_project_dir/<job>` into `env`, make them current and log
        it; a version that is current in `env` already is left as it is (recorded False)."""
        if not re.fullmatch(NAME_RE, env) or not JOB_ID_RE.fullmatch(entry.job_id):
            raise MlciError(f"refusing to promote {entry.version}: environment or job id {entry.job_id[:40]!r} unsafe")
        with exclusive_lock(self.project_dir / LOCK_NAME):
            entries = self.read()  # under the lock, and before anything is copied
            current = next(iter(in_env(entries, env)), None)
            if current is not None and current.version == entry.version:
                return current, False
            env_dir = self.project_dir / ENVS_DIR / env
            dest = self._place(entry, source_project_dir / entry.job_id, env_dir)
            self._point_current(env_dir, entry.version)
            promotion = make(current.version if current else None, dest.resolve().as_uri())
            content = json.dumps(log_json(self.project, [*entries, promotion]), indent=2) + "\n"
            write_bytes_atomic(self.path, content.encode(), mode=0o644)
            return promotion, True

    def _place(self, entry: VersionEntry, source: Path, env_dir: Path) -> Path:
        """`env_dir/<version>/`, copied from `source` by one rename, its content the published one."""
        dest = env_dir / entry.version
        if dest.exists():  # promoted here before (a rollback): check it was not changed since
            self._check(entry, dest)
            return dest
        if source.is_symlink() or not source.is_dir():
            raise MlciError(f"{entry.version} of {self.project}: its outputs {source} are missing from the store")
        env_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.version}.partial-", dir=env_dir))
        try:
            copy_outputs(scan_outputs(source, max_bytes=self.max_bytes), staging)
            self._check(entry, staging)
            staging.chmod(0o755)
            os.rename(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return dest

    def _check(self, entry: VersionEntry, where: Path) -> None:
        if entry.digest is None:
            return
        got = "sha256:" + content_digest(content_entries(where, self.max_bytes))
        if got != entry.digest:
            raise MlciError(
                f"{entry.version} of {self.project}: the store's copy at {where} is not what was published"
                f" (content {got[:19]}…, index {entry.digest[:19]}…); nothing was promoted",
                hint="the store was changed after publishing: restore it, or publish again as a new version",
            )

    @staticmethod
    def _point_current(env_dir: Path, version: str) -> None:
        tmp = env_dir / f".{CURRENT}.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(version)
        os.replace(tmp, env_dir / CURRENT)
