"""History and comparison of runs, as pure functions over typed records: what `mlci history`,
`mlci compare` and the dashboard show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlci.boundary import read_small_file
from mlci.record.store import RunRecord

CONFIG_COPY = "config.yaml"  # the effective config each run keeps beside status.json
_CONFIG_MAX = 16 << 20


def history_row(record: RunRecord, metric: str | None) -> dict[str, Any]:
    state = record.state
    gate = state.gate
    return {
        "project": record.project,
        "jobId": record.job_id,
        "createdAt": state.created_at,
        "status": record.status.value,
        "commit": (state.commit or "")[:12] or None,
        "experiment": state.experiment.name if state.experiment else None,
        "overrides": state.experiment.overrides if state.experiment else {},
        "image": state.build.repo_digest or state.build.image_id,
        "gate": None if gate is None or not gate.metric else ("pass" if gate.passed else "fail"),
        "metric": state.metrics.get(metric) if metric else None,
        "rerunOf": state.rerun_of,
    }


def select(records: list[RunRecord], *, experiment: str | None, metric: str | None, limit: int) -> list[RunRecord]:
    """Newest first (records come sorted), of `experiment` when given (`-` for release runs only),
    having `metric` when given."""
    chosen = []
    for record in records:
        name = record.state.experiment.name if record.state.experiment else None
        if experiment is not None and name != (None if experiment == "-" else experiment):
            continue
        if metric is not None and metric not in record.state.metrics:
            continue
        chosen.append(record)
        if len(chosen) >= limit:
            break
    return chosen


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{"optimizer": {"lr": 0.1}} → {"optimizer.lr": 0.1}; lists are indexed like --set keys."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(data, list):
        out = {}
        for index, value in enumerate(data):
            out.update(flatten(value, f"{prefix}{index}."))
        return out
    return {prefix[:-1]: data} if prefix else {"": data}


def effective_config(record: RunRecord) -> dict[str, Any] | None:
    """The flattened config the run's stages saw, or None when it kept none (or it is unreadable)."""
    raw = read_small_file(record.path(CONFIG_COPY), max_bytes=_CONFIG_MAX)
    if isinstance(raw, str):
        return None
    try:
        return flatten(yaml.safe_load(raw.decode("utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return None


def _changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    missing = object()
    rows = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key, missing), b.get(key, missing)
        if left != right:
            rows.append({"key": key, "a": None if left is missing else left, "b": None if right is missing else right})
    return rows


def compare(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    """Metrics side by side with deltas (b - a), and what differs in config, overrides, commit and image."""
    ma, mb = a.state.metrics, b.state.metrics
    metrics = []
    for name in sorted(set(ma) | set(mb)):
        left, right = ma.get(name), mb.get(name)
        delta = right - left if left is not None and right is not None else None
        metrics.append({"metric": name, "a": left, "b": right, "delta": delta})
    config_a, config_b = effective_config(a), effective_config(b)
    oa = a.state.experiment.overrides if a.state.experiment else {}
    ob = b.state.experiment.overrides if b.state.experiment else {}
    return {
        "a": {"project": a.project, "jobId": a.job_id, "status": a.status.value},
        "b": {"project": b.project, "jobId": b.job_id, "status": b.status.value},
        "metrics": metrics,
        "config": None if config_a is None or config_b is None else _changes(config_a, config_b),
        "overrides": _changes(oa, ob),
        "commit": {"a": a.state.commit, "b": b.state.commit, "same": a.state.commit == b.state.commit},
        "image": {
            "a": a.state.build.image_id,
            "b": b.state.build.image_id,
            "same": a.state.build.image_id == b.state.build.image_id,
        },
        "gate": {
            "a": a.state.gate.reason if a.state.gate else None,
            "b": b.state.gate.reason if b.state.gate else None,
        },
    }


def record_config_path(record: RunRecord) -> Path | None:
    path = record.path(CONFIG_COPY)
    return path if path.is_file() and not path.is_symlink() else None
