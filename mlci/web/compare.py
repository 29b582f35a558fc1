"""Two runs side by side: the rows where they agree and differ, as a pure function over two records.
`mlci compare` still has its own (mlci/record/history.py compare, with config differences and
deltas); the two should become one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlci.record.model import Record, parse_time


@dataclass(frozen=True)
class Row:
    section: str  # run, experiment, metric, gate
    name: str
    left: Any
    right: Any

    @property
    def differs(self) -> bool:
        return self.left != self.right


def _duration(state: Record) -> float | None:
    start, end = parse_time(state.started_at), parse_time(state.finished_at)
    return round((end - start).total_seconds(), 1) if start and end else None


def _gate(state: Record) -> str | None:
    if state.gate is None:
        return None
    return ("passed" if state.gate.passed else "failed") + f": {state.gate.reason}"


def compare(left: Record, right: Record) -> list[Row]:
    """Every field worth comparing, in a stable order: the run, its experiment overrides (the union
    of both runs' keys), every metric either run has, and the gate verdict."""
    rows = [
        Row("run", "status", left.overall_status.value, right.overall_status.value),
        Row("run", "commit", left.commit, right.commit),
        Row("run", "image", left.build.image_uri, right.build.image_uri),
        Row("run", "configHash", left.config_hash, right.config_hash),
        Row("run", "attempts", len(left.attempts), len(right.attempts)),
        Row("run", "durationS", _duration(left), _duration(right)),
        Row("experiment", "name", _experiment(left), _experiment(right)),
    ]
    left_over = left.experiment.overrides if left.experiment else {}
    right_over = right.experiment.overrides if right.experiment else {}
    rows += [Row("override", key, left_over.get(key), right_over.get(key)) for key in sorted({*left_over, *right_over})]
    rows += [
        Row("metric", name, left.metrics.get(name), right.metrics.get(name))
        for name in sorted({*left.metrics, *right.metrics})
    ]
    rows.append(Row("gate", "verdict", _gate(left), _gate(right)))
    return rows


def _experiment(state: Record) -> str | None:
    return state.experiment.name if state.experiment else None
