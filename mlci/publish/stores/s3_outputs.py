"""A version's outputs in an S3 store, as a promotion copies them: downloaded from a published job
(`<project>/<job-id>/`, listed by its manifest `_mlci.json`), or placed as a promoted copy at
`<project>/envs/<env>/<version>/` with a manifest of its own written last.

A manifest is read from the store, so it is hostile input: every path must be a plain relative
path, sizes and total are bounded, and each object is checked against the size and sha256 the
manifest lists while it is streamed to disk (never more than its listed size is written). A placed
copy's manifest also records each object's ETag: a later promotion of the same version (a
rollback) reuses the copy only when the objects are still exactly those.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlci.boundary import DEFAULT_MAX_FILES
from mlci.errors import MlciError
from mlci.publish.stores.base import MB, content_digest, content_entries
from mlci.publish.stores.promotions import Fill
from mlci.publish.stores.retry import with_retry
from mlci.publish.stores.s3_conditional import S3Objects
from mlci.publish.versions import MAX_INDEX_BYTES, VersionEntry

MANIFEST_NAME = "_mlci.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BAD_PATH = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class Transfer:
    """How files are uploaded: multipart above `threshold`, in `chunksize` parts."""

    threshold: int = 64 * MB
    chunksize: int = 16 * MB


def _too_large(where: str):
    return lambda size: MlciError(f"{where} is {size} bytes, more than mlci writes; left as it is")


def read_manifest(objects: S3Objects, base: str) -> dict[str, Any] | None:
    """The manifest under `base`, None when there is none; not JSON (an object) is refused."""
    key = base + MANIFEST_NAME
    where = objects.where(key)
    body, _ = objects.get(key, MAX_INDEX_BYTES, _too_large(where))
    if body is None:
        return None
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise MlciError(f"manifest {where} is not a JSON object; left as it is")
    return data


def manifest_files(data: dict[str, Any], where: str, max_bytes: int) -> list[dict[str, Any]]:
    """The manifest's file list, every entry checked: a safe relative path, a size, a sha256."""
    files = data.get("files")
    if not isinstance(files, list) or len(files) > DEFAULT_MAX_FILES:
        raise MlciError(f"manifest {where}: files is not a list of at most {DEFAULT_MAX_FILES} entries")
    paths: set[str] = set()
    total = 0
    for i, item in enumerate(files):
        path = item.get("path") if isinstance(item, dict) else None
        size = item.get("size") if isinstance(item, dict) else None
        digest = item.get("sha256") if isinstance(item, dict) else None
        if not isinstance(path, str) or not _safe_path(path):
            raise MlciError(f"manifest {where} [{i}]: path {str(path)[:60]!r} is not a plain relative path")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise MlciError(f"manifest {where} [{i}]: size of {path[:60]!r} is not a byte count")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise MlciError(f"manifest {where} [{i}]: sha256 of {path[:60]!r} is not a sha256")
        if path in paths:
            raise MlciError(f"manifest {where} lists {path[:60]!r} twice")
        paths.add(path)
        total += size
    if total > max_bytes:
        raise MlciError(f"manifest {where} lists {total} bytes, more than runner.max_output_size ({max_bytes})")
    parents = {str(p) for path in paths for p in PurePosixPath(path).parents}
    if parents & paths:
        raise MlciError(f"manifest {where} lists a file and a directory of the same name")
    return files


def _safe_path(path: str) -> bool:
    parts = path.split("/")
    return (
        0 < len(path) <= 1024
        and not _BAD_PATH.search(path)
        and all(part not in ("", ".", "..") for part in parts)
        and parts[0] != MANIFEST_NAME
    )


def fetch(objects: S3Objects, base: str, dest: Path, *, max_bytes: int, what: str) -> None:
    """Download the published outputs under `base` into `dest`, each checked against its manifest."""
    data = read_manifest(objects, base)
    if data is None:
        raise MlciError(f"{what}: its outputs {objects.where(base)} are missing from the store (no {MANIFEST_NAME})")
    for item in manifest_files(data, objects.where(base + MANIFEST_NAME), max_bytes):
        _download(objects, base + item["path"], dest / item["path"], item["size"], item["sha256"], what)


def _download(objects: S3Objects, key: str, target: Path, size: int, sha256: str, what: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)

    def get() -> str:
        body = objects.client.get_object(Bucket=objects.bucket, Key=key)["Body"]
        digest, written = hashlib.sha256(), 0
        with body, open(target, "wb") as sink:  # a retry starts the file again
            for chunk in iter(lambda: body.read(MB), b""):
                written += len(chunk)
                if written > size:
                    return "larger than its manifest says"
                digest.update(chunk)
                sink.write(chunk)
        if written != size:
            return f"{written} bytes, not {size}"
        return "" if digest.hexdigest() == sha256 else "its sha256 differs from its manifest's"

    problem = with_retry(get, what=f"download {key}", **objects.retry)
    if problem:
        raise MlciError(
            f"{what}: {objects.where(key)} is not what was published ({problem}); nothing was promoted",
            hint="the store was changed after publishing: restore it, or publish again as a new version",
        )


def place(
    objects: S3Objects, base: str, entry: VersionEntry, fill: Fill, *, max_bytes: int, transfer: Transfer
) -> None:
    """Make `base` hold `entry`'s outputs (written by `fill`, checked against the index's digest),
    its manifest written last; a complete earlier copy is reused after it is checked."""
    existing = read_manifest(objects, base)
    if existing is not None:
        check_copy(objects, base, entry, existing, max_bytes)
        return
    what = f"{entry.version} of {entry.project}"
    with tempfile.TemporaryDirectory(prefix="mlci-promote-") as tmp:
        staging = Path(tmp)
        fill(staging)
        files = content_entries(staging, max_bytes)
        got = "sha256:" + content_digest(files)
        if entry.digest is not None and got != entry.digest:
            raise MlciError(
                f"{what}: the source store's copy is not what was published (content {got[:19]}…, index"
                f" {entry.digest[:19]}…); nothing was promoted",
                hint="the store was changed after publishing: restore it, or publish again as a new version",
            )
        if any(str(f["path"]).split("/")[0] == MANIFEST_NAME for f in files):
            raise MlciError(f"{what}: its outputs hold {MANIFEST_NAME}, a name the S3 layout keeps for mlci")
        for item in files:
            _upload(objects, staging / str(item["path"]), base + str(item["path"]), transfer)
    listed = _listing(objects, base)
    extra = sorted(set(listed) - {str(f["path"]) for f in files} - {MANIFEST_NAME})
    if extra:
        raise MlciError(
            f"{objects.where(base)} holds objects that are not {what}'s: {', '.join(extra[:3])}; nothing was promoted",
            hint="remove them (they were not written by mlci), then promote again",
        )
    manifest = {
        "schemaVersion": 1,
        "project": entry.project,
        "version": entry.version,
        "jobId": entry.job_id,
        "digest": got,
        "files": [{**f, "etag": listed[str(f["path"])][1]} for f in files],
    }
    body = (json.dumps(manifest, indent=2) + "\n").encode()
    if not objects.put(base + MANIFEST_NAME, body, None):  # another promoter placed it meanwhile
        check_copy(objects, base, entry, read_manifest(objects, base) or {}, max_bytes)


def check_copy(objects: S3Objects, base: str, entry: VersionEntry, manifest: dict[str, Any], max_bytes: int) -> None:
    """Refuse a placed copy unless its manifest is `entry`'s and its objects are those it lists."""
    where = objects.where(base)
    files = manifest_files(manifest, where + MANIFEST_NAME, max_bytes)
    digest = "sha256:" + content_digest(files)
    listed = _listing(objects, base)
    recorded = {str(f["path"]): (f["size"], f.get("etag")) for f in files}
    every = set(recorded) | (set(listed) - {MANIFEST_NAME})
    changed = sorted(p for p in every if recorded.get(p) != listed.get(p))
    wrong = (manifest.get("version"), manifest.get("jobId")) != (entry.version, entry.job_id)
    if wrong or (entry.digest is not None and digest != entry.digest) or changed:
        detail = f"changed: {', '.join(changed[:3])}" if changed else "its manifest is another version's"
        raise MlciError(
            f"{entry.version} of {entry.project}: the copy at {where} is not what was promoted ({detail});"
            " nothing was promoted",
            hint="the store was changed after promoting: remove that copy so mlci copies the version again",
        )


def _upload(objects: S3Objects, path: Path, key: str, transfer: Transfer) -> None:
    from boto3.s3.transfer import TransferConfig  # boto3 is an optional extra (mlci[s3])

    config = TransferConfig(multipart_threshold=transfer.threshold, multipart_chunksize=transfer.chunksize)
    with_retry(
        lambda: objects.client.upload_file(str(path), objects.bucket, key, Config=config),
        what=f"upload {key}",
        **objects.retry,
    )


def _listing(objects: S3Objects, base: str) -> dict[str, tuple[int, str]]:
    """{path under base: (size, ETag)} of every object under `base`."""

    def page_through() -> dict[str, tuple[int, str]]:
        pages = objects.client.get_paginator("list_objects_v2").paginate(Bucket=objects.bucket, Prefix=base)
        return {i["Key"][len(base) :]: (i["Size"], i["ETag"]) for page in pages for i in page.get("Contents", [])}

    return with_retry(page_through, what=f"list {base}", **objects.retry)
