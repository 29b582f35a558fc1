"""What a store that keeps promotions provides: `ArtifactStore.promotions(project)` returns one.

Local stores (stores/local_promotions.py) serialise writers with flock; S3 stores
(stores/s3_promotions.py) with conditional writes. A store type that cannot append to a log
race-free (the Hugging Face Hub, as mlci uses it) refuses promotions rather than fake them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from mlci.publish.promotion_log import ItestVerdict, Promotion
from mlci.publish.versions import VersionEntry

# Writes a version's outputs, as its source store holds them, into a fresh empty directory.
Fill = Callable[[Path], None]
# The promotion to record, given the version it replaces (None: the first) and the promoted copy's URL.
MakePromotion = Callable[[str | None, str], Promotion]


class Promotions(Protocol):
    """One project's promotions and integration-test verdicts in one store."""

    def read(self) -> list[Promotion]:
        """Every promotion, oldest first; [] when nothing was promoted yet."""
        ...

    def promote(self, env: str, entry: VersionEntry, fill: Fill, make: MakePromotion) -> tuple[Promotion, bool]:
        """Copy `entry`'s outputs (written by `fill`, checked against `entry.digest`) to
        `<project>/envs/<env>/<version>/`, make them current and append the promotion to the log; a
        version current in `env` already is left as it is (False). The log is read, and refused when
        it cannot be trusted, before anything is copied; concurrent promoters never lose an entry."""
        ...

    def itests(self) -> list[ItestVerdict]:
        """Every integration-test verdict, oldest first."""
        ...

    def record_itest(self, verdict: ItestVerdict) -> None:
        """Append `verdict` to the itest log, with the promotion log's discipline."""
        ...
