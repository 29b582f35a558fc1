"""Promotions in an S3 store, under `s3://<bucket>/<prefix>/<project>/`:

    envs/<env>/<version>/...            the promoted outputs, `_mlci.json` written last (s3_outputs)
    envs/<env>/current.json             which version is current in <env>, and its place in the log
    promotions.json                     the promotion log, the same document as a local store's
    itests.json                         the integration-test verdicts
    promotions.probe                    what checks that the server honours conditional writes

Why no entry is lost or duplicated: each log is one object, replaced by a compare-and-swap — read it
with its ETag, PUT the log plus one entry with `If-Match: <that ETag>` (`If-None-Match: *` when
there was none); a promoter that loses the race gets 412 or 409, reads again and retries, so every
entry is appended to the log it was computed from, and `previous` always names what was current
just before (s3_conditional). A PUT that succeeded but whose reply was lost fails its retry with 412;
the promoter then finds its own entry in the log and does not append it again.

The log is the record; `current.json` is a pointer for deployments, updated after the log, by the
same compare-and-swap and only forward (it notes the entry's position in the log), so two racing
promoters leave it at the later entry. A promoter that died between the two leaves it behind; the
next promotion to the environment (of any version, the current one too) moves it on.

The log (and the pointer) is read before anything is copied: one that is corrupt or from a newer
mlci refuses the promotion and is never written over — a CAS only replaces what was read and parsed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

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
    position,
)
from mlci.publish.stores.promotions import Fill, MakePromotion
from mlci.publish.stores.s3_conditional import S3Objects
from mlci.publish.stores.s3_outputs import Transfer, place
from mlci.publish.versions import MAX_INDEX_BYTES, VersionEntry

LOG_NAME = "promotions.json"
ITEST_LOG_NAME = "itests.json"
POINTER_NAME = "current.json"
PROBE_NAME = "promotions.probe"
POINTER_SCHEMA_VERSION = 1
MAX_TRIES = 50  # that many writers winning each time we read is not contention, it is a bug


class S3Promotions:
    def __init__(
        self,
        objects: S3Objects,
        key: Callable[..., str],
        project: str,
        *,
        max_bytes: int,
        transfer: Transfer,
    ):
        self.objects, self.key, self.project = objects, key, project
        self.max_bytes, self.transfer = max_bytes, transfer
        self._checked = False

    # ------------------------------------------------------------ read
    def read(self) -> list[Promotion]:
        return self._load(self.key(self.project, LOG_NAME), PROMOTIONS)[0]

    def itests(self) -> list[ItestVerdict]:
        return self._load(self.key(self.project, ITEST_LOG_NAME), ITESTS)[0]

    def _load(self, key: str, kind: LogKind) -> tuple[list[Any], str | None]:
        where = self.objects.where(key)
        body, etag = self.objects.get(key, MAX_INDEX_BYTES, lambda size: _too_large(kind.what, where, size))
        if body is None:
            return [], None
        return parse_entries(decode(body, kind.what, where), self.project, where, kind), etag

    # ------------------------------------------------------------ write
    def record_itest(self, verdict: ItestVerdict) -> None:
        self._require_conditional_writes()
        key = self.key(self.project, ITEST_LOG_NAME)
        self._append(key, ITESTS, self._load(key, ITESTS), lambda entries: verdict)

    def promote(self, env: str, entry: VersionEntry, fill: Fill, make: MakePromotion) -> tuple[Promotion, bool]:
        self._require_conditional_writes()
        key = self.key(self.project, LOG_NAME)
        entries, etag = self._load(key, PROMOTIONS)  # before anything is copied
        self._read_pointer(env)  # likewise: a pointer mlci cannot read is reported, not replaced
        current = next(iter(in_env(entries, env)), None)
        if current is not None and current.version == entry.version:
            self._point(env, entries, current)  # repairs a pointer a dead promoter left behind
            return current, False
        base = self.key(self.project, "envs", env, entry.version) + "/"
        place(self.objects, base, entry, fill, max_bytes=self.max_bytes, transfer=self.transfer)
        url = self.objects.where(base)
        found: list[Promotion] = []

        def next_promotion(entries: list[Promotion]) -> Promotion | None:
            now = next(iter(in_env(entries, env)), None)
            if now is not None and now.version == entry.version:  # another promoter made it current
                found.append(now)
                return None
            return make(now.version if now else None, url)

        promotion, entries = self._append(key, PROMOTIONS, (entries, etag), next_promotion)
        if promotion is None:
            self._point(env, entries, found[-1])
            return found[-1], False
        self._point(env, entries, promotion)
        return promotion, True

    def _append(
        self, key: str, kind: LogKind, loaded: tuple[list[Any], str | None], make: Callable[[list[Any]], Any]
    ) -> tuple[Any, list[Any]]:
        """Append `make(entries)` to the log at `key` by compare-and-swap; (the entry, the log with
        it). `make` answering None appends nothing: (None, the log as read)."""
        entries, etag = loaded
        for _ in range(MAX_TRIES):
            new = make(entries)
            if new is None:
                return None, entries
            if self.objects.put(key, encode(self.project, [*entries, new], kind), etag):
                return new, [*entries, new]
            entries, etag = self._load(key, kind)
            if new in entries:  # our PUT went through, but its reply was lost and the retry refused
                return new, entries
        raise MlciError(f"could not append to {kind.what} {self.objects.where(key)} after {MAX_TRIES} tries")

    # ------------------------------------------------------------ the current pointer
    def _pointer_key(self, env: str) -> str:
        return self.key(self.project, "envs", env, POINTER_NAME)

    def _read_pointer(self, env: str) -> tuple[dict[str, Any] | None, str | None]:
        key = self._pointer_key(env)
        where = self.objects.where(key)
        body, etag = self.objects.get(key, 64 * 1024, lambda size: _too_large("current pointer", where, size))
        if body is None:
            return None, None
        data = decode(body, "current pointer", where)
        schema = data.get("schemaVersion") if isinstance(data, dict) else None
        if isinstance(schema, int) and not isinstance(schema, bool) and schema > POINTER_SCHEMA_VERSION:
            raise PromotionLogError(f"current pointer {where} was written by a newer mlci; left as it is")
        spot = data.get("promotion") if isinstance(data, dict) else None
        if (
            schema != POINTER_SCHEMA_VERSION
            or (data.get("project"), data.get("env")) != (self.project, env)
            or not isinstance(spot, int)
            or isinstance(spot, bool)
            or spot < 1
        ):
            raise PromotionLogError(
                f"current pointer {where} is not one mlci writes; left as it is",
                hint="restore it, or remove it: the next promotion writes it again from the log",
            )
        return data, etag

    def _point(self, env: str, entries: list[Promotion], promotion: Promotion) -> None:
        """Point `current.json` at `promotion` unless it points at a later entry of the log already."""
        spot = position(entries, promotion)
        body = {
            "schemaVersion": POINTER_SCHEMA_VERSION,
            "project": self.project,
            "env": env,
            "version": promotion.version,
            "jobId": promotion.job_id,
            "digest": promotion.digest,
            "url": promotion.url,
            "at": promotion.at,
            "promotion": spot,
        }
        content = (json.dumps(body, indent=2) + "\n").encode()
        for _ in range(MAX_TRIES):
            data, etag = self._read_pointer(env)
            if data is not None and data["promotion"] >= spot:
                return
            if self.objects.put(self._pointer_key(env), content, etag):
                return
        raise MlciError(f"could not update {self.objects.where(self._pointer_key(env))} after {MAX_TRIES} tries")

    def _require_conditional_writes(self) -> None:
        if not self._checked:
            self.objects.require(self.key(self.project, PROBE_NAME), "a promotion or itest log")
            self._checked = True


def _too_large(what: str, where: str, size: int) -> PromotionLogError:
    return PromotionLogError(f"{what} {where} is {size} bytes, more than mlci writes; left as it is")
