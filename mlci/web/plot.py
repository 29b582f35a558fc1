"""Metric-over-runs plots as plain geometry for a server-side SVG (no JavaScript, no CDN).

One plot per metric: a point per run that reported it, oldest on the left; published runs,
ordinary runs and experiments drawn in different shapes; the gate's threshold as a dashed line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlci.record.store import RunRecord

WIDTH, HEIGHT, PAD = 640, 220, 40
MAX_POINTS = 400  # the newest runs; an older history stays in the runs list


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    kind: str  # release | run | experiment
    job_id: str
    value: float


@dataclass(frozen=True)
class Plot:
    metric: str
    points: list[Point]
    low: float
    high: float
    threshold: float | None
    threshold_y: float | None
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD


def kind_of(record: RunRecord) -> str:
    if record.state.experiment is not None:
        return "experiment"
    return "release" if record.state.publish is not None else "run"


def plots(records: list[RunRecord]) -> list[Plot]:
    """`records` newest first (as iter_records gives them); one plot per metric name."""
    runs = list(reversed(records[:MAX_POINTS]))
    names = sorted({name for r in runs for name, v in r.state.metrics.items() if math.isfinite(v)})
    return [_plot(name, runs) for name in names]


def _plot(metric: str, runs: list[RunRecord]) -> Plot:
    values = [(r, r.state.metrics[metric]) for r in runs if math.isfinite(r.state.metrics.get(metric, math.nan))]
    threshold = next(
        (
            r.state.gate.threshold
            for r in reversed(runs)
            if r.state.gate and r.state.gate.metric == metric and r.state.gate.threshold is not None
        ),
        None,
    )
    span = [v for _, v in values] + ([threshold] if threshold is not None and math.isfinite(threshold) else [])
    low, high = min(span), max(span)
    if high == low:
        low, high = low - 0.5, high + 0.5
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD

    def y_of(value: float) -> float:
        return round(PAD + inner_h * (high - value) / (high - low), 1)

    step = inner_w / max(1, len(values) - 1)
    points = [
        Point(round(PAD + (i * step if len(values) > 1 else inner_w / 2), 1), y_of(v), kind_of(r), r.job_id, v)
        for i, (r, v) in enumerate(values)
    ]
    threshold_y = y_of(threshold) if threshold is not None and math.isfinite(threshold) else None
    return Plot(metric, points, low, high, threshold, threshold_y)
