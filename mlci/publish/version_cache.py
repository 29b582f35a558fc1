"""A version's outputs from a remote store (S3), as a directory on this host: what `mlci deploy` mounts
and `mlci bundle` packs when the version does not lie in a local store.

The copy lives under the stage-cache root, `<cache>/deploy/<project>/<job>/`. It is fetched into a
fresh `.<job>.partial-*` directory next to it (ArtifactStore.fetch_version), checked against the
content digest the version index recorded, and only then renamed into place: a copy under its final
name is always a complete, checked one. The next deploy re-checks it (every file's sha256 against the
digest) and reuses it; a copy that no longer adds up (edited, damaged) is moved aside, removed and
fetched again. A version whose index entry records no digest is refused: nothing could say what is in
the copy. A fetch that was killed leaves its `.partial-` directory (a removal that was killed, its
`.stale-` one); `abandoned` finds those nothing has written to for a while, for `mlci cache prune`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from mlci.errors import MlciError
from mlci.publish.stores.base import ArtifactStore, content_digest, content_entries, job_of
from mlci.publish.versions import VersionEntry
from mlci.runner.stage_cache import newest_mtime, remove_tree

Say = Callable[[str], None]
# A fetch in progress writes file after file; one whose newest file is this old was killed.
ABANDONED_AFTER_S = 6 * 3600
_LEFTOVER = (".partial-", ".stale-")


def cached_outputs(store: ArtifactStore, entry: VersionEntry, cache_root: Path, max_bytes: int, say: Say) -> Path:
    """A checked local copy of `entry`'s outputs in `store`: reused when it still adds up, else fetched."""
    project, job = job_of(entry)
    what = f"{project} {entry.version}"
    if not entry.digest:
        raise MlciError(
            f"{what} in store '{entry.store}' records no content digest, so a copy of it could not be checked",
            hint="publish the run again with this mlci (it records the digest), then use that version",
        )
    base = cache_root / "deploy" / project
    base.mkdir(parents=True, exist_ok=True)
    final = base / job
    if os.path.lexists(final):
        if not final.is_symlink() and final.is_dir() and _adds_up(final, entry.digest, max_bytes):
            say(f"{what}: reusing the checked copy of store '{entry.store}' in {final}")
            return final
        say(f"{what}: the copy in {final} is not what was published; fetching it again")
        _discard(final, base, job)
    say(f"{what}: fetching its outputs from store '{entry.store}' into {final}")
    staging = Path(tempfile.mkdtemp(prefix=f".{job}.partial-", dir=base))
    try:
        store.fetch_version(entry, staging)
        if not _adds_up(staging, entry.digest, max_bytes):
            raise MlciError(
                f"{what}: the outputs in store '{entry.store}' are not what was published (content digest differs);"
                " nothing was used",
                hint="the store was changed after publishing: restore it, or publish again as a new version",
            )
        staging.chmod(0o755)
        try:
            os.rename(staging, final)
        except OSError:  # another mlci put a copy there first: use it, once it adds up
            if final.is_symlink() or not final.is_dir() or not _adds_up(final, entry.digest, max_bytes):
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final


def _adds_up(path: Path, digest: str, max_bytes: int) -> bool:
    try:
        got = "sha256:" + content_digest(content_entries(path, max_bytes))
    except (MlciError, OSError):  # a link, a special file, too large: not a copy mlci made
        return False
    return got == digest


def _discard(final: Path, base: Path, job: str) -> None:
    """Move the bad copy aside (one rename, so nobody sees half of it), then remove it."""
    aside = base / f".{job}.stale-{uuid.uuid4().hex[:8]}"
    os.rename(final, aside)
    remove_tree(aside)


def abandoned(cache_root: Path, now: float, after_s: float = ABANDONED_AFTER_S) -> list[Path]:
    """The `.partial-` and `.stale-` directories under `<cache>/deploy/<project>/` that nothing has
    written to for `after_s` seconds: left by a deploy or bundle that was killed mid-fetch."""
    deploy = cache_root / "deploy"
    if deploy.is_symlink() or not deploy.is_dir():
        return []
    found = []
    for project in sorted(deploy.iterdir()):
        if project.is_symlink() or not project.is_dir():
            continue
        for child in sorted(project.iterdir()):
            leftover = child.name.startswith(".") and any(mark in child.name for mark in _LEFTOVER)
            if leftover and not child.is_symlink() and child.is_dir() and now - newest_mtime(child) > after_s:
                found.append(child)
    return found
