"""Conditional writes to S3: create a key only if it does not exist, or replace an object only if
it is still the one we read (compare-and-swap on its ETag).

AWS S3 User Guide, "How to prevent object overwrites with conditional writes"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html), and the PutObject
API reference (IfNoneMatch, IfMatch):
- `If-None-Match: *` uploads the object only if the key does not exist; otherwise 412 Precondition
  Failed.
- `If-Match: <etag>` uploads the object only if the ETag of the object in S3 matches; otherwise 412.
  "If a conflicting operation occurs during the upload S3 returns a 409 ConditionalRequestConflict
  response. On a 409 failure you should fetch the object's ETag and retry the upload." An If-Match
  on a key that no longer exists answers 404 NoSuchKey.
So a read-modify-write that PUTs with If-Match on the ETag it read (If-None-Match when there was no
object) either replaces exactly what it read or fails and reads again: no concurrent writer's
change is lost. boto3 has sent both since late 2024 (IfNoneMatch first, IfMatch weeks later; the
client's model is checked below); moto 5 checks both. A server that silently ignores the headers would lose writes, so `require` probes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlci.errors import MlciError, UsageError
from mlci.publish.stores.retry import with_retry

WRONG_ETAG = '"00000000000000000000000000000000"'  # no object's ETag: an MD5 of nothing is d41d8cd9…


class ConditionalWritesUnsupported(UsageError):
    """The client or the server cannot make the conditional writes a race-free log needs."""


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error or str(status or "")


def taken(exc: Exception) -> bool:
    """412: the key exists (or its ETag changed); 409: a concurrent conditional write to it."""
    return error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


def _missing(exc: Exception) -> bool:
    return error_code(exc) in ("NoSuchKey", "404", "NotFound")


class S3Objects:
    """Reads and conditional writes of single small objects in one bucket."""

    def __init__(self, client: Any, bucket: str, retry: dict[str, Any]):
        self.client, self.bucket, self.retry = client, bucket, retry

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def get(self, key: str, max_bytes: int, too_large: Callable[[int], Exception]) -> tuple[bytes | None, str | None]:
        """(content, ETag) of `key`, (None, None) when it does not exist; more than `max_bytes` is refused."""

        def read() -> tuple[bytes | None, str | None]:
            try:
                reply = self.client.get_object(Bucket=self.bucket, Key=key)
            except Exception as exc:
                if _missing(exc):
                    return None, None
                raise
            size = reply.get("ContentLength") or 0
            if size > max_bytes:
                reply["Body"].close()
                raise too_large(size)
            body = reply["Body"].read(max_bytes + 1)
            if len(body) > max_bytes:
                raise too_large(len(body))
            return body, reply["ETag"]

        return with_retry(read, what=f"read {key}", **self.retry)

    def put(self, key: str, body: bytes, etag: str | None) -> bool:
        """Write `key` if it is still what we read — absent (`etag` None) or with `etag` — True when
        this PUT wrote it, False when another writer came first (read again and retry)."""
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            with_retry(
                lambda: self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **condition
                ),
                what=f"write {key}",
                **self.retry,
            )
            return True
        except Exception as exc:
            if taken(exc) or (etag and _missing(exc)):
                return False
            raise

    def require(self, probe_key: str, what: str) -> None:
        """Refuse unless the client sends, and the server honours, both If-None-Match and If-Match."""
        members = self.client.meta.service_model.operation_model("PutObject").input_shape.members
        if "IfNoneMatch" not in members or "IfMatch" not in members:
            raise ConditionalWritesUnsupported(
                f"this boto3 cannot make the conditional writes (PutObject IfNoneMatch, IfMatch) {what} needs",
                hint="pip install -U boto3",
            )
        try:
            with_retry(
                lambda: self.client.put_object(Bucket=self.bucket, Key=probe_key, Body=b"mlci probe\n"),
                what=f"write {probe_key}",
                **self.retry,
            )
            honoured = not self.put(probe_key, b"if-match\n", WRONG_ETAG) and not self.put(probe_key, b"new\n", None)
        except MlciError:
            raise
        except Exception as exc:
            if error_code(exc) not in ("NotImplemented", "501", "InvalidArgument", "InvalidRequest", "400"):
                raise
            honoured = False
        if not honoured:
            raise ConditionalWritesUnsupported(
                f"the S3 server behind {self.where(probe_key)} does not honour If-Match and If-None-Match "
                f"(conditional writes), so two writers of {what} could lose each other's entry",
                hint="use AWS S3, or an S3-compatible server that supports conditional writes",
            )
