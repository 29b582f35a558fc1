"""The overview's data: each project's latest run, and the filtered, paged list of runs.

Pure functions over the records `iter_records` returned (newest first); no web framework here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlci.record.model import Record
from mlci.record.store import RunRecord

PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    project: str | None = None
    status: str | None = None
    experiment: str | None = None

    def keep(self, record: RunRecord) -> bool:
        if self.project and record.project != self.project:
            return False
        if self.status and record.status.value != self.status:
            return False
        if self.experiment:
            name = record.state.experiment.name if record.state.experiment else None
            if name != self.experiment:
                return False
        return True


@dataclass(frozen=True)
class Page:
    runs: list[RunRecord]
    number: int
    pages: int
    total: int


def page_of(records: list[RunRecord], filters: Filters, number: int, size: int = PAGE_SIZE) -> Page:
    kept = [r for r in records if filters.keep(r)]
    pages = max(1, -(-len(kept) // size))
    number = min(max(1, number), pages)
    return Page(kept[(number - 1) * size : number * size], number, pages, len(kept))


def latest_per_project(records: list[RunRecord]) -> list[RunRecord]:
    """The newest run of each project, by project name."""
    latest: dict[str, RunRecord] = {}
    for record in records:  # newest first: the first seen wins
        latest.setdefault(record.project, record)
    return [latest[name] for name in sorted(latest)]


def key_metric(state: Record) -> tuple[str, float] | None:
    """The metric the gate judges, else the first by name."""
    if state.gate is not None and state.gate.metric and state.gate.metric in state.metrics:
        return state.gate.metric, state.metrics[state.gate.metric]
    if state.metrics:
        name = min(state.metrics)
        return name, state.metrics[name]
    return None


def choices(records: list[RunRecord]) -> dict[str, list[str]]:
    """What the filters offer: the projects, statuses and experiments present."""
    return {
        "project": sorted({r.project for r in records}),
        "status": sorted({r.status.value for r in records}),
        "experiment": sorted({r.state.experiment.name for r in records if r.state.experiment}),
    }
