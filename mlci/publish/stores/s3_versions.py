"""The version index of an S3 store: one object per version, `<prefix>/<project>/versions/v<N>.json`.

Why this is race-free: S3 has no locks and no multi-object transactions, but it has conditional
writes. A PutObject with `If-None-Match: *` "uploads the object only if the object key name does
not already exist in the bucket; otherwise Amazon S3 returns a 412 Precondition Failed", and when
such writes race for one key "S3 returns a 409 ConditionalRequestConflict; on a 409 failure you
should retry the upload" (AWS S3 User Guide, "Add preconditions to S3 operations with conditional
requests"; API reference, PutObject, IfNoneMatch). So the key v<N>.json is created exactly once:
of concurrent publishers that both saw v1..v<N-1> (LIST is strongly consistent since December
2020), one creates v<N>, the others get 412 or 409, list again and try v<N+1>. No version is
written twice, and none is skipped, since a publisher only tries N = (the highest it listed) + 1.

The claim IS the index entry, written after the outputs and their manifest (so last), in one PUT
(atomic: a reader sees the whole object or none). A publisher whose PUT succeeded but whose reply
was lost retries, gets 412, lists again and finds its own job there: it keeps that version.

An S3-compatible server that ignores If-None-Match would let two publishers both "win" v<N>: each
claim first checks, with a probe object, that the server refuses a second conditional PUT, and
versions are refused when it does not. The same job published to S3 by two publishers at the same
moment may get two versions (both name the same job and the same outputs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from mlci.errors import MlciError
from mlci.publish.stores.retry import with_retry
from mlci.publish.stores.s3_conditional import error_code, taken
from mlci.publish.versions import (
    INDEX_SCHEMA_VERSION,
    VersionEntry,
    VersionIndexError,
    VersionsUnsupported,
    check_schema_version,
    check_sequence,
    parse_entry,
    parse_json,
    same_job,
    version_name,
)
from mlci.record.store import RunRecord

ENTRY_KEY = re.compile(r"v[1-9][0-9]*\.json")
PROBE_NAME = "versions.probe"
MAX_CLAIMS = 50  # that many publishers taking the version each time we look is not contention, it is a bug


class S3Index:
    def __init__(self, client: Any, bucket: str, key: Callable[..., str], project: str, retry: dict[str, Any]):
        self.client, self.bucket, self.project, self._retry = client, bucket, project, retry
        self.prefix = key(project, "versions") + "/"
        self.probe_key = key(project, PROBE_NAME)
        self._seen: dict[str, VersionEntry] = {}  # entries are written once: read each once per claim

    def where(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key or self.prefix}"

    # ------------------------------------------------------------ read
    def read(self) -> list[VersionEntry]:
        """Every version, oldest first, checked: a stray key, a corrupt entry or a gap is refused."""
        entries = []
        for key in self._list():
            name = key[len(self.prefix) :]
            if not ENTRY_KEY.fullmatch(name):
                raise VersionIndexError(f"version index {self.where()} holds {name[:60]!r}, which is no version entry")
            if key not in self._seen:
                self._seen[key] = self._read_entry(key, name.removesuffix(".json"))
            entries.append(self._seen[key])
        return check_sequence(entries, self.project, self.where())

    def _list(self) -> list[str]:
        def page_through() -> list[str]:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            return [item["Key"] for page in pages for item in page.get("Contents", [])]

        return with_retry(page_through, what=f"list {self.prefix}", **self._retry)

    def _read_entry(self, key: str, version: str) -> VersionEntry:
        where = self.where(key)
        body = with_retry(
            lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read(),
            what=f"read {key}",
            **self._retry,
        )
        data = parse_json(body, where)
        check_schema_version(data, where)
        entry = parse_entry({k: v for k, v in data.items() if k != "schemaVersion"}, where)
        if entry.version != version:
            raise VersionIndexError(f"version index {where} says it is {entry.version}; left as it is")
        return entry

    # ------------------------------------------------------------ claim
    def claim(self, record: RunRecord, url: str, make_entry: Callable[[str], VersionEntry]) -> VersionEntry:
        for _ in range(MAX_CLAIMS):
            entries = self.read()
            existing = same_job(entries, record, url)
            if existing is not None:
                return existing
            entry = make_entry(version_name(len(entries) + 1))
            body = (json.dumps({"schemaVersion": INDEX_SCHEMA_VERSION, **entry.to_json()}, indent=2) + "\n").encode()
            if self._put_new(self.prefix + f"{entry.version}.json", body):
                return entry
        raise MlciError(f"could not claim a version in {self.where()} after {MAX_CLAIMS} tries; nothing was written")

    def _put_new(self, key: str, body: bytes) -> bool:
        """Create `key` unless it exists: True when this PUT created it, False when it was taken."""
        try:
            with_retry(
                lambda: self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
                ),
                what=f"write {key}",
                **self._retry,
            )
            return True
        except Exception as exc:
            if taken(exc):
                return False
            raise

    def require_conditional_writes(self) -> None:
        """Refuse versions unless the client can send, and the server honours, If-None-Match."""
        members = self.client.meta.service_model.operation_model("PutObject").input_shape.members
        if "IfNoneMatch" not in members:
            raise VersionsUnsupported(
                "this boto3 cannot make conditional writes (PutObject IfNoneMatch), which S3 model versions need",
                hint="pip install -U boto3",
            )
        try:
            if not self._put_new(self.probe_key, b"mlci checks that this server honours If-None-Match\n"):
                return  # refused: the probe existed, and the server said so
            if not self._put_new(self.probe_key, b"second\n"):
                return
        except MlciError:
            raise
        except Exception as exc:
            if error_code(exc) not in ("NotImplemented", "501", "InvalidArgument", "400"):
                raise
        raise VersionsUnsupported(
            f"the S3 server behind {self.where(self.probe_key)} does not honour If-None-Match (conditional writes), "
            "so two publishers could take the same version",
            hint="use AWS S3, or an S3-compatible server that supports conditional writes",
        )
