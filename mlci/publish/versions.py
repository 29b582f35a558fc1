"""Model versions: each publication to a store gets the project's next version there (v1, v2, ...)
and an entry in the store's version index — commit, job, image digest, config hash, metrics, the
gate's verdict, who approved it, when — written LAST, after the outputs, and atomically.

The index is read from a store, so it is hostile input: anything but the shape below (not JSON,
wrong types, a version that is not `v` and digits, a gap or a duplicate), or a schemaVersion newer
than this mlci reads, is refused with VersionIndexError, and a refused index is never written over.
Each store type keeps its index its own race-free way (stores/local_versions.py, stores/s3_versions.py);
a store that has none refuses versions (VersionsUnsupported) rather than fake them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from mlci.errors import MlciError, UsageError
from mlci.record.model import GateVerdict, Publication
from mlci.record.parts import VERSION_PATTERN
from mlci.record.store import RunRecord

INDEX_SCHEMA_VERSION = 1  # what this mlci writes, and the newest it reads
MAX_INDEX_BYTES = 16 * 1024 * 1024  # an index larger than this is not one mlci wrote
_VERSION = re.compile(VERSION_PATTERN)


class VersionIndexError(MlciError):
    """A store's version index that cannot be trusted: corrupt, or written by a newer mlci."""


class VersionsUnsupported(UsageError):
    """The store type keeps no version index."""


class VersionEntry(BaseModel):
    """One published model version, as the index keeps it (camelCase in JSON)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    version: str = Field(pattern=VERSION_PATTERN)
    project: str
    job_id: str
    store: str
    url: str
    published_at: str
    commit: str | None = None
    image_digest: str | None = None  # the pushed image's repo digest, else the local image id
    config_hash: str | None = None
    digest: str | None = None  # the outputs' content digest
    metrics: dict[str, float] = Field(default_factory=dict)
    gate: GateVerdict | None = None
    approved_by: str | None = None

    @property
    def number(self) -> int:
        return version_number(self.version)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


def version_number(version: str) -> int:
    """`v12` → 12; anything else is refused."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise VersionIndexError(f"{str(version)[:40]!r} is not a model version (v1, v2, ...)")
    return int(version[1:])


def version_name(number: int) -> str:
    if number < 1:
        raise ValueError(f"model versions start at v1, not {number}")
    return f"v{number}"


def entry_for(record: RunRecord, publication: Publication, approved_by: str | None, version: str) -> VersionEntry:
    """The index entry of `record`'s publication as version `version`."""
    state = record.state
    return VersionEntry(
        version=version,
        project=record.project,
        job_id=record.job_id,
        store=publication.store,
        url=publication.url,
        published_at=publication.published_at,
        commit=state.commit,
        image_digest=state.build.repo_digest or state.build.digest or state.build.image_id,
        config_hash=publication.config_hash,
        digest=publication.digest,
        metrics=dict(state.metrics),
        gate=state.gate,
        approved_by=approved_by,
    )


def decode_store_json(data: bytes, what: str, where: str, error: type[MlciError], hint: str) -> Any:
    """The JSON in an index or log mlci keeps in a store (`what`: "version index", ...): hostile input,
    so more than MAX_INDEX_BYTES or anything but UTF-8 JSON is refused with `error` — never rewritten."""
    if len(data) > MAX_INDEX_BYTES:
        raise error(f"{what} {where} is {len(data)} bytes, more than mlci writes; left as it is")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"{what} {where} is not valid JSON ({exc}); left as it is", hint=hint) from None


def parse_json(data: bytes, where: str) -> Any:
    return decode_store_json(
        data,
        "version index",
        where,
        VersionIndexError,
        "restore it from a backup, or move it aside to start a new index (versions restart at v1)",
    )


def check_schema_version(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise VersionIndexError(f"version index {where} is not a JSON object; left as it is")
    version = data.get("schemaVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise VersionIndexError(f"version index {where} has no valid schemaVersion ({str(version)[:40]!r})")
    if version > INDEX_SCHEMA_VERSION:
        raise VersionIndexError(
            f"version index {where} was written by a newer mlci (schema {version}; this one reads up to "
            f"{INDEX_SCHEMA_VERSION}); left as it is",
            hint="upgrade mlci to list or publish versions to this store",
        )


def parse_entry(data: Any, where: str) -> VersionEntry:
    try:
        return VersionEntry.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "entry"
        raise VersionIndexError(f"version index {where}: {field}: {first.get('msg')}; left as it is") from None


def check_sequence(entries: list[VersionEntry], project: str, where: str) -> list[VersionEntry]:
    """Entries sorted oldest first; they must be exactly v1..vN of `project`, no gap, no duplicate."""
    ordered = sorted(entries, key=lambda e: e.number)
    for expected, entry in enumerate(ordered, start=1):
        if entry.project != project:
            raise VersionIndexError(f"version index {where}: {entry.version} belongs to project {entry.project!r}")
        if entry.number != expected:
            what = "duplicate" if entry.number < expected else f"gap before {entry.version}"
            raise VersionIndexError(
                f"version index {where}: {what} (expected v{expected}); left as it is",
                hint="versions are never renumbered: restore the index from a backup",
            )
    return ordered


def find_version(entries: list[VersionEntry], version: str, project: str, store: str) -> VersionEntry:
    """`version`'s entry (a usage error naming the newest one when there is none)."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise UsageError(f"{str(version)[:64]!r} is not a model version", hint="use v1, v2, ... (see `mlci versions`)")
    entry = next((e for e in entries if e.version == version), None)
    if entry is None:
        newest = f"the newest is {max(entries, key=lambda e: e.number).version}" if entries else "it has none"
        raise UsageError(f"no version {version} of {project} in store '{store}' ({newest})")
    return entry


def newest_first(entries: list[VersionEntry]) -> list[VersionEntry]:
    return sorted(entries, key=lambda e: e.number, reverse=True)


def same_job(entries: list[VersionEntry], record: RunRecord, url: str) -> VersionEntry | None:
    """The version this job already has in the index (a re-publish of the same outputs)."""
    return next((e for e in entries if e.job_id == record.job_id and e.url == url), None)
