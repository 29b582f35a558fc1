"""The per-project promotion log an environment's store keeps: every promotion — environment,
version, the version it replaced, job, who, when — oldest first.

The log is read from a store, so it is hostile input like the version index: anything but the shape
below is refused with PromotionLogError and never written over.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from mlci.errors import MlciError
from mlci.manifest.fields import NAME_RE
from mlci.record.parts import VERSION_PATTERN

LOG_SCHEMA_VERSION = 1
WHO_RE = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z"


class PromotionLogError(MlciError):
    """A store's promotion log that cannot be trusted: corrupt, or written by a newer mlci."""


class Promotion(BaseModel):
    """One promotion, as the log keeps it (camelCase in JSON)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    env: str = Field(pattern=NAME_RE.replace("\\Z", "$"))
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


def parse_log(data: Any, project: str, where: str) -> list[Promotion]:
    """The log's promotions, oldest first; anything else is refused."""
    if not isinstance(data, dict):
        raise PromotionLogError(f"promotion log {where} is not a JSON object; left as it is")
    version = data.get("schemaVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PromotionLogError(f"promotion log {where} has no valid schemaVersion ({str(version)[:40]!r})")
    if version > LOG_SCHEMA_VERSION:
        raise PromotionLogError(
            f"promotion log {where} was written by a newer mlci (schema {version}); left as it is",
            hint="upgrade mlci to promote in this store",
        )
    if data.get("project") != project or not isinstance(data.get("promotions"), list):
        raise PromotionLogError(f"promotion log {where} is not {project}'s list of promotions; left as it is")
    entries = []
    for i, item in enumerate(data["promotions"]):
        try:
            entry = Promotion.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "entry"
            raise PromotionLogError(
                f"promotion log {where} [{i}]: {field}: {first.get('msg')}; left as it is",
                hint="restore it from a backup; mlci never rewrites a log it cannot read",
            ) from None
        if entry.project != project:
            raise PromotionLogError(f"promotion log {where} [{i}] belongs to project {entry.project!r}")
        entries.append(entry)
    return entries


def log_json(project: str, entries: list[Promotion]) -> dict[str, Any]:
    return {"schemaVersion": LOG_SCHEMA_VERSION, "project": project, "promotions": [e.to_json() for e in entries]}


def in_env(entries: list[Promotion], env: str) -> list[Promotion]:
    """`env`'s promotions, newest first: the first one is what is current there."""
    return [e for e in reversed(entries) if e.env == env]
