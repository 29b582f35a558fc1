"""The per-project logs an environment's store keeps, oldest first:

- the promotion log `promotions.json`: every promotion — environment, version, the version it
  replaced, job, who, when;
- the integration-test log `itests.json`: every verdict of a promoted version's integration test
  in an environment — passed or not, who, which job, when, a short detail.

Both are read from a store, so they are hostile input like the version index: anything but the
shape below is refused with PromotionLogError and never written over. Each log has its own
schemaVersion (both 1); a log from a newer mlci is refused, not rewritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from pydantic.alias_generators import to_camel

from mlci.errors import MlciError
from mlci.manifest.fields import NAME_RE
from mlci.publish.versions import decode_store_json
from mlci.record.parts import VERSION_PATTERN

LOG_SCHEMA_VERSION = 1
WHO_RE = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z"
# a Jenkins build URL or number, or an mlci job id: one line of characters inert in shells and URLs
ITEST_JOB_RE = r"^[A-Za-z0-9][A-Za-z0-9._:/#@%~+=-]{0,199}\Z"
MAX_DETAIL = 2000
_ENV = NAME_RE.replace("\\Z", "$")


class PromotionLogError(MlciError):
    """A store's promotion or itest log that cannot be trusted: corrupt, or written by a newer mlci."""


class Promotion(BaseModel):
    """One promotion, as the log keeps it (camelCase in JSON)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    env: str = Field(pattern=_ENV)
    project: str
    version: str = Field(pattern=VERSION_PATTERN)
    previous: str | None = Field(None, pattern=VERSION_PATTERN)  # what was current in env before
    job_id: str
    source_store: str
    by: str = Field(pattern=WHO_RE.replace("\\Z", "$"))
    at: str
    digest: str | None = None
    url: str

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


class ItestVerdict(BaseModel):
    """One integration-test verdict of `version` as deployed in `env` (camelCase in JSON)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    env: str = Field(pattern=_ENV)
    project: str
    version: str = Field(pattern=VERSION_PATTERN)
    passed: StrictBool
    by: str = Field(pattern=WHO_RE.replace("\\Z", "$"))
    job: str | None = Field(None, pattern=ITEST_JOB_RE.replace("\\Z", "$"))
    detail: str = Field("", max_length=MAX_DETAIL)
    at: str

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


@dataclass(frozen=True)
class LogKind:
    what: str  # "promotion log"
    key: str  # the list's key in the JSON object
    model: type[BaseModel]


PROMOTIONS = LogKind("promotion log", "promotions", Promotion)
ITESTS = LogKind("itest log", "itests", ItestVerdict)


def decode(data: bytes, what: str, where: str) -> Any:
    """The JSON in a log's bytes (`what`: "promotion log", ...); too large or not JSON is refused."""
    return decode_store_json(
        data, what, where, PromotionLogError, "restore it from a backup; mlci never rewrites a log it cannot read"
    )


def parse_entries(data: Any, project: str, where: str, kind: LogKind) -> list[Any]:
    """The log's entries, oldest first; anything else is refused."""
    if not isinstance(data, dict):
        raise PromotionLogError(f"{kind.what} {where} is not a JSON object; left as it is")
    version = data.get("schemaVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PromotionLogError(f"{kind.what} {where} has no valid schemaVersion ({str(version)[:40]!r})")
    if version > LOG_SCHEMA_VERSION:
        raise PromotionLogError(
            f"{kind.what} {where} was written by a newer mlci (schema {version}); left as it is",
            hint="upgrade mlci to promote in this store",
        )
    if data.get("project") != project or not isinstance(data.get(kind.key), list):
        raise PromotionLogError(f"{kind.what} {where} is not {project}'s list of {kind.key}; left as it is")
    entries = []
    for i, item in enumerate(data[kind.key]):
        try:
            entry = kind.model.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "entry"
            raise PromotionLogError(
                f"{kind.what} {where} [{i}]: {field}: {first.get('msg')}; left as it is",
                hint="restore it from a backup; mlci never rewrites a log it cannot read",
            ) from None
        if getattr(entry, "project", None) != project:
            raise PromotionLogError(f"{kind.what} {where} [{i}] belongs to project {getattr(entry, 'project', '')!r}")
        entries.append(entry)
    return entries


def parse_log(data: Any, project: str, where: str) -> list[Promotion]:
    """The promotion log's promotions, oldest first; anything else is refused."""
    return parse_entries(data, project, where, PROMOTIONS)


def encode(project: str, entries: list[Any], kind: LogKind) -> bytes:
    """A log's bytes as mlci writes them."""
    data = {"schemaVersion": LOG_SCHEMA_VERSION, "project": project, kind.key: [e.to_json() for e in entries]}
    return (json.dumps(data, indent=2) + "\n").encode()


def in_env(entries: list[Any], env: str) -> list[Any]:
    """`env`'s entries, newest first: for promotions, the first one is what is current there."""
    return [e for e in reversed(entries) if e.env == env]


def position(entries: list[Promotion], promotion: Promotion) -> int:
    """Where `promotion` is in the log, counting from 1 (what an S3 `current` pointer records)."""
    return next(i for i, e in reversed(list(enumerate(entries, start=1))) if e == promotion)
