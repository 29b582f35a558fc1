"""Promotions in a local store: `<path>/<project>/envs/<env>/<version>/` (the promoted outputs),
`<project>/envs/<env>/current` (a symlink to the current one), the log `<project>/promotions.json`
and the integration-test verdicts `<project>/itests.json`.

The same discipline as the version index (local_versions.py): a promoter holds an exclusive lock
(fcntl.flock on `<project>/.promotions.lock`, never removed) from reading the log until the new log
was renamed over the old one, so two promoters never lose each other's entry, and a reader — who
takes no lock — sees the old log or the new one. The log is read before anything is copied: a log
mlci cannot trust refuses the promotion and is never written over. The itest log is kept the same
way under its own lock (`<project>/.itests.lock`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mlci.atomic import exclusive_lock, write_bytes_atomic
from mlci.boundary import DEFAULT_MAX_BYTES
from mlci.errors import MlciError
from mlci.publish.promotion_log import (
    ITESTS,
    PROMOTIONS,
    ItestVerdict,
    LogKind,
    Promotion,
    PromotionLogError,
    decode,
    encode,
    in_env,
    parse_entries,
)
from mlci.publish.stores.base import content_digest, content_entries
from mlci.publish.stores.promotions import Fill, MakePromotion
from mlci.publish.versions import MAX_INDEX_BYTES, VersionEntry

LOG_NAME = "promotions.json"
LOCK_NAME = ".promotions.lock"
ITEST_LOG_NAME = "itests.json"
ITEST_LOCK_NAME = ".itests.lock"
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
        return self._read(self.path, PROMOTIONS)

    def itests(self) -> list[ItestVerdict]:
        return self._read(self.project_dir / ITEST_LOG_NAME, ITESTS)

    def record_itest(self, verdict: ItestVerdict) -> None:
        path = self.project_dir / ITEST_LOG_NAME
        with exclusive_lock(self.project_dir / ITEST_LOCK_NAME):
            entries = self._read(path, ITESTS)  # under the lock: nobody writes before our rename
            write_bytes_atomic(path, encode(self.project, [*entries, verdict], ITESTS), mode=0o644)

    def _read(self, path: Path, kind: LogKind) -> list:
        where = str(path)
        if not path.exists() and not path.is_symlink():
            return []
        if path.is_symlink() or not path.is_file():
            raise PromotionLogError(f"{kind.what} {where} is not a regular file; left as it is")
        with path.open("rb") as handle:
            data = handle.read(MAX_INDEX_BYTES + 1)
        return parse_entries(decode(data, kind.what, where), self.project, where, kind)

    def promote(self, env: str, entry: VersionEntry, fill: Fill, make: MakePromotion) -> tuple[Promotion, bool]:
        """Copy `entry`'s outputs (written by `fill`) into `env`, make them current and log it; a
        version that is current in `env` already is left as it is (recorded False)."""
        with exclusive_lock(self.project_dir / LOCK_NAME):
            entries = self.read()  # under the lock, and before anything is copied
            current = next(iter(in_env(entries, env)), None)
            if current is not None and current.version == entry.version:
                return current, False
            env_dir = self.project_dir / ENVS_DIR / env
            dest = self._place(entry, fill, env_dir)
            self._point_current(env_dir, entry.version)
            promotion = make(current.version if current else None, dest.resolve().as_uri())
            write_bytes_atomic(self.path, encode(self.project, [*entries, promotion], PROMOTIONS), mode=0o644)
            return promotion, True

    def _place(self, entry: VersionEntry, fill: Fill, env_dir: Path) -> Path:
        """`env_dir/<version>/`, written by `fill` and made visible by one rename, its content the published one."""
        dest = env_dir / entry.version
        if dest.exists() or dest.is_symlink():  # promoted here before (a rollback): check it was not changed since
            if dest.is_symlink() or not dest.is_dir():
                raise MlciError(f"{dest} is not a directory mlci wrote; nothing was promoted", hint="move it aside")
            self._check(entry, dest)
            return dest
        env_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.version}.partial-", dir=env_dir))
        try:
            fill(staging)
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
