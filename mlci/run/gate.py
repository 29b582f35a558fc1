"""The evaluation gate: metrics.json read as other people's output, and the verdict on it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

from mlci.boundary import read_small_file
from mlci.manifest.schema import Gate
from mlci.record.model import GateVerdict

METRICS_MAX_BYTES = 1 << 20
_METRIC_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,128}")


class MetricsRead(NamedTuple):
    values: dict[str, float]  # the finite numbers
    error: str | None  # the file as a whole is unusable (not JSON, duplicate keys, a link, ...)
    rejected: dict[str, str]  # key → why its value is not used (a string, null, NaN, too large)


def read_metrics(out_dir: Path) -> MetricsRead:
    """metrics.json as a flat {name: finite number}, and precise reasons for whatever is not.

    metrics.json is written by the stage (other people's code), so it is read like any output:
    never through a link, bounded in size and nesting, duplicate keys refused (JSON's last-wins
    would let a later `accuracy` silently replace the one the gate should judge).
    """
    raw = read_small_file(out_dir / "metrics.json", max_bytes=METRICS_MAX_BYTES)
    if raw == "not written":
        return MetricsRead({}, None, {})
    if isinstance(raw, str):
        return MetricsRead(
            {}, f"metrics.json is {raw} — write a JSON object of numbers to $MLCI_OUTPUT_DIR/metrics.json", {}
        )
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_refuse_duplicates)
    except _MetricsProblem as exc:
        return MetricsRead({}, f"metrics.json: {exc}", {})
    except RecursionError:
        return MetricsRead({}, 'metrics.json is nested too deeply — write a flat object such as {"accuracy": 0.93}', {})
    except (ValueError, UnicodeDecodeError) as exc:
        return MetricsRead({}, f"metrics.json is not valid JSON ({exc})", {})
    if not isinstance(data, dict):
        return MetricsRead({}, f"metrics.json must be a flat JSON object of numbers, not {_json_kind(data)}", {})
    metrics: dict[str, float] = {}
    rejected: dict[str, str] = {}
    for key, value in data.items():
        if not _METRIC_NAME.fullmatch(key):  # printed on consoles and in Slack: no control characters
            rejected[key.encode("unicode_escape").decode()[:140]] = "a name with control characters or over 128 long"
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            rejected[key] = f"{_json_kind(value)}, not a number"
            continue
        try:
            number = float(value)
        except OverflowError:
            rejected[key] = "too large for a number"
            continue
        if not math.isfinite(number):
            rejected[key] = f"{number}, not a finite number"
            continue
        metrics[key] = number
    return MetricsRead(metrics, None, rejected)


class _MetricsProblem(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _MetricsProblem(f"duplicate key {key!r} — write each metric once")
        out[key] = value
    return out


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def judge(
    gate: Gate | None, metrics: dict[str, float], metrics_error: str | None, rejected: dict[str, str] | None = None
) -> GateVerdict:
    if gate is None:
        return GateVerdict(metric=None, op=None, threshold=None, passed=True, reason="no gate")
    op, threshold = (">=", gate.min) if gate.min is not None else ("<=", gate.max)

    def verdict(passed: bool, reason: str, value: float | None = None) -> GateVerdict:
        return GateVerdict(metric=gate.metric, op=op, threshold=threshold, value=value, passed=passed, reason=reason)

    if metrics_error:
        return verdict(False, metrics_error)
    if rejected and gate.metric in rejected:
        return verdict(False, f"metric '{gate.metric}' in metrics.json is {rejected[gate.metric]}")
    if gate.metric not in metrics:
        return verdict(
            False,
            f"metric '{gate.metric}' missing from metrics.json"
            + (f" (has: {', '.join(sorted(metrics))})" if metrics else " (no metrics.json written)"),
        )
    value = metrics[gate.metric]
    passed = gate.passes(value)
    return verdict(passed, f"{gate.metric} = {value:g} {'' if passed else 'not '}{op} {threshold:g}", value)
