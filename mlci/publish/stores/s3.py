"""An S3 (or S3-compatible: MinIO, Ceph, R2 via `endpoint_url`) artifact store.

Layout under `s3://<bucket>/<prefix>/`:
    <project>/<job-id>/<files...>       the outputs, large files uploaded in parallel multipart parts
    <project>/<job-id>/_mlci.json       the manifest (file list, sizes, sha256), written LAST
    <project>/latest.json               pointer to the newest published run (by creation time), written
                                        after the manifest; re-publishing an older run leaves it alone
    <project>/versions/v<N>.json        the model version index, one entry per version, written last
                                        with a conditional PUT (see s3_versions)
    <project>/envs/, promotions.json,   promoted copies, the promotion log and itest verdicts of the
    <project>/itests.json               environments kept in this store (see s3_promotions)

A reader trusts a job only when its manifest exists, so an interrupted publish (some files, no
manifest) is invisible, and `latest` never points at it. Re-publishing a job whose manifest exists
changes nothing when the outputs are the same, and is refused when they differ.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlci.publish.stores.base import (
    MB,
    ArtifactStore,
    content_entries,
    job_of,
    output_files,
    refuse_different,
    sha256_file,
)
from mlci.publish.stores.retry import with_retry
from mlci.publish.stores.s3_conditional import S3Objects
from mlci.publish.stores.s3_outputs import MANIFEST_NAME, Transfer, fetch
from mlci.publish.stores.s3_promotions import S3Promotions
from mlci.publish.stores.s3_versions import S3Index
from mlci.publish.versions import VersionEntry
from mlci.record.model import now
from mlci.record.store import RunRecord

# boto3 is an optional extra (mlci[s3], ~0.25 s): imported in the functions that need it.

__all__ = ["MANIFEST_NAME", "MB", "S3Store", "make_client", "output_files", "sha256_file"]

LATEST_NAME = "latest.json"


class S3Store(ArtifactStore):
    def __init__(
        self,
        name: str,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        multipart_threshold: int = 64 * MB,
        multipart_chunksize: int = 16 * MB,
        sleep: Callable[[float], None] | None = None,
    ):
        super().__init__(name)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize
        self._retry_kwargs: dict[str, Any] = {"sleep": sleep} if sleep else {}

    # ------------------------------------------------------------ keys
    def key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def url(self, project: str, job_id: str) -> str:
        return f"s3://{self.bucket}/{self.key(project, job_id)}/"

    # ------------------------------------------------------------ publish
    def publish(self, record: RunRecord, outputs: Path) -> str:
        from boto3.s3.transfer import TransferConfig

        project, job_id = record.project, record.job_id
        manifest_key = self.key(project, job_id, MANIFEST_NAME)
        if self._exists(manifest_key):
            # Same outputs: idempotent. Different outputs under this id: refused, never a silent "published".
            existing = self._read_json(manifest_key) or {}
            refuse_different(
                self.name,
                record,
                existing.get("files") or [],
                content_entries(outputs, self.max_output_bytes),
                self.url(project, job_id),
            )
            self._point_latest(record)  # a crash may have come between the manifest and latest
            return self.url(project, job_id)

        transfer = TransferConfig(
            multipart_threshold=self.multipart_threshold, multipart_chunksize=self.multipart_chunksize
        )
        entries = []
        for path in output_files(outputs, self.max_output_bytes):
            relative = path.relative_to(outputs).as_posix()
            key = self.key(project, job_id, relative)
            with_retry(
                lambda path=path, key=key: self.client.upload_file(str(path), self.bucket, key, Config=transfer),
                what=f"upload {relative}",
                **self._retry_kwargs,
            )
            entries.append({"path": relative, "size": path.stat().st_size, "sha256": sha256_file(path)})

        manifest = {
            "project": project,
            "jobId": job_id,
            "commit": record.state.commit,
            "metrics": record.state.metrics,
            "publishedAt": now(),
            "files": entries,
        }
        self._put_json(manifest_key, manifest)
        self._point_latest(record)
        return self.url(project, job_id)

    # ------------------------------------------------------------ versions
    supports_versions = True

    def _index(self, project: str) -> S3Index:
        return S3Index(self.client, self.bucket, self.key, project, self._retry_kwargs)

    def prepare_versions(self, project: str) -> None:
        self._index(project).require_conditional_writes()

    def claim_version(self, record: RunRecord, url: str, make_entry: Callable[[str], VersionEntry]) -> VersionEntry:
        return self._index(record.project).claim(record, url, make_entry)

    def versions(self, project: str) -> list[VersionEntry]:
        return self._index(project).read()

    def fetch_version(self, entry: VersionEntry, dest: Path) -> None:
        project, job_id = job_of(entry)
        what = f"{entry.version} of {project}"
        fetch(self._objects(), self.key(project, job_id) + "/", dest, max_bytes=self.max_output_bytes, what=what)

    # ------------------------------------------------------------ promotions
    def promotions(self, project: str) -> S3Promotions:
        transfer = Transfer(self.multipart_threshold, self.multipart_chunksize)
        return S3Promotions(self._objects(), self.key, project, max_bytes=self.max_output_bytes, transfer=transfer)

    # ------------------------------------------------------------ helpers
    def _objects(self) -> S3Objects:
        return S3Objects(self.client, self.bucket, self._retry_kwargs)

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        def head() -> bool:
            try:
                self.client.head_object(Bucket=self.bucket, Key=key)
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise

        return with_retry(head, what=f"check {key}", **self._retry_kwargs)

    def _put_json(self, key: str, data: Any) -> None:
        body = (json.dumps(data, indent=2) + "\n").encode()
        with_retry(
            lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"),
            what=f"write {key}",
            **self._retry_kwargs,
        )

    def _read_json(self, key: str) -> Any:
        from botocore.exceptions import ClientError

        def get() -> Any:
            try:
                return json.loads(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise

        return with_retry(get, what=f"read {key}", **self._retry_kwargs)

    def _point_latest(self, record: RunRecord) -> None:
        """Point `latest` at this job unless it already points at a newer run (by creation time)."""
        key = self.key(record.project, LATEST_NAME)
        created = record.state.created_at
        current = self._read_json(key)
        if isinstance(current, dict) and (current.get("createdAt") or "") > created:
            return
        url = self.url(record.project, record.job_id)
        self._put_json(key, {"jobId": record.job_id, "url": url, "createdAt": created})


def make_client(
    *, endpoint_url: str | None, region: str | None, access_key_id: str | None, secret_access_key: str | None
) -> Any:
    """A boto3 S3 client; with no keys given, boto3's own chain (env, instance role) applies."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        # botocore retries too; ours wraps whole files, theirs single requests
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60),
    )
