"""What a finished run looks like in an experiment tracker, computed from its record alone: one
parent run (the run) and one child per attempt, with params, metrics, tags and the artifacts to
send. Pure over the record and its directory, so it is tested without a server; every string is
masked with the secret redactor before it leaves this module.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.contract import STATUS_FILE
from mlci.manifest.fields import URL_RE
from mlci.record.history import effective_config
from mlci.record.model import RunStatus, parse_time
from mlci.record.store import RunRecord
from mlci.secrets import redact, redact_data

# The tracker's limits (MLflow 3: mlflow/utils/validation.py): longer values are cut, not refused.
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
# Names MLflow accepts for params and metrics (validate_param_and_metric_name, path_not_unique): no
# other characters, and none that a path normalisation would change; others are rewritten.
_BAD_NAME_CHARS = re.compile(r"[^\w.\- :]")

KIND_TAG = "mlci.kind"  # "run" on the parent, "attempt" on a child: how a later `mlci track` finds them
PROJECT_TAG = "mlci.project"
JOB_TAG = "mlci.job"
ATTEMPT_TAG = "mlci.attempt"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own nesting tag (the UI draws children under it)

# record status → MLflow's RunStatus name
_STATUS = {
    RunStatus.SUCCEEDED: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.BUILD_FAILED: "FAILED",
    RunStatus.CANCELLED: "KILLED",
    RunStatus.INTERRUPTED: "KILLED",
}


@dataclass(frozen=True)
class TrackedRun:
    """One MLflow run: the parent (attempt None) or one attempt's child."""

    name: str
    attempt: int | None
    start_ms: int | None
    end_ms: int | None
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    step: int
    tags: dict[str, str]


@dataclass(frozen=True)
class Artifacts:
    """The passing attempt's outputs, all of them or none: a model without half its files is worse
    than none, and the record keeps the full set either way."""

    directory: Path | None
    files: list[str] = field(default_factory=list)  # relative paths, regular files only
    size_bytes: int = 0
    note: str = "no passing attempt: no outputs sent"


@dataclass(frozen=True)
class Payload:
    parent: TrackedRun
    children: list[TrackedRun]
    artifacts: Artifacts


def build_payload(record: RunRecord, *, max_artifact_bytes: int) -> Payload:
    state = record.state
    status = _STATUS.get(record.status, "KILLED")
    common = {**_config_params(record), **_common_params(record)}
    gate = state.gate
    parent_tags = {
        KIND_TAG: "run",
        PROJECT_TAG: record.project,
        JOB_TAG: record.job_id,
        "mlci.status": record.status.value,
        "mlci.gate": _verdict(gate.passed if gate and gate.metric else None),
        "mlci.gate.reason": gate.reason if gate else "no attempt was judged",
        "mlci.record": str(record.dir / STATUS_FILE),
        "mlflow.runName": f"{record.project}/{record.job_id}",
    }
    if state.commit:
        parent_tags["mlflow.source.git.commit"] = state.commit
    if state.experiment:
        parent_tags["mlci.experiment"] = state.experiment.name
    if state.rerun_of:
        parent_tags["mlci.rerun_of"] = state.rerun_of
    if state.error:
        parent_tags["mlci.error"] = state.error
    if build_url := _build_url():
        parent_tags["mlci.jenkins"] = build_url
    parent_tags["mlflow.note.content"] = _note(record, build_url)
    artifacts = _artifacts(record, max_artifact_bytes)
    parent_tags["mlci.artifacts"] = artifacts.note
    parent = TrackedRun(
        name=f"{record.project}/{record.job_id}",
        attempt=None,
        start_ms=_ms(state.started_at or state.created_at),
        end_ms=_ms(state.finished_at),
        status=status,
        params=common,
        metrics=_metrics(state.metrics),
        step=gate.attempt if gate and gate.attempt else 0,
        tags=parent_tags,
    )
    children = []
    for attempt in state.attempts:
        verdict = attempt.gate
        children.append(
            TrackedRun(
                name=f"attempt-{attempt.n}",
                attempt=attempt.n,
                start_ms=_ms(attempt.started_at),
                end_ms=_ms(attempt.finished_at),
                status={"Succeeded": "FINISHED", "Failed": "FAILED"}.get(attempt.status.value, "KILLED"),
                params={**common, "mlci.attempt": str(attempt.n)},
                metrics=_metrics(attempt.metrics),
                step=attempt.n,
                tags={
                    KIND_TAG: "attempt",
                    PROJECT_TAG: record.project,
                    JOB_TAG: record.job_id,
                    ATTEMPT_TAG: str(attempt.n),
                    "mlci.status": attempt.status.value,
                    "mlci.gate": _verdict(verdict.passed if verdict and verdict.metric else None),
                    "mlci.gate.reason": verdict.reason if verdict else (attempt.error or "not judged"),
                    "mlflow.runName": f"attempt-{attempt.n}",
                },
            )
        )
    return Payload(parent=_masked(parent), children=[_masked(c) for c in children], artifacts=artifacts)


def run_url(uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI."""
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


# ------------------------------------------------------------------ parts


def _common_params(record: RunRecord) -> dict[str, str]:
    state = record.state
    build = state.build
    params = {
        "mlci.job_id": record.job_id,
        "mlci.project": record.project,
        "mlci.commit": state.commit or "unknown",
        "mlci.image": build.repo_digest or build.digest or build.image_id or "none",
        "mlci.experiment": state.experiment.name if state.experiment else "-",
    }
    if state.config_hash:
        params["mlci.config_hash"] = state.config_hash
    if state.experiment and state.experiment.overrides:
        params["mlci.overrides"] = json.dumps(state.experiment.overrides, sort_keys=True, separators=(",", ":"))
        for key, value in state.experiment.overrides.items():
            params[f"mlci.override.{key}"] = _text(value)
    return params


def _config_params(record: RunRecord) -> dict[str, str]:
    """The effective config the stages saw, flattened (`optimizer.lr`), as MLflow params."""
    config = effective_config(record) or {}
    return {key: _text(value) for key, value in config.items() if key}


def _metrics(metrics: dict[str, float]) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items() if not math.isinf(value)}


def _verdict(passed: bool | None) -> str:
    return "none" if passed is None else ("pass" if passed else "fail")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _ms(stamp: str | None) -> int | None:
    moment = parse_time(stamp)
    return int(moment.timestamp() * 1000) if moment else None


def _build_url() -> str | None:
    """Jenkins' link to the build that ran this (BUILD_URL), when it is a plain URL."""
    url = os.environ.get("BUILD_URL", "")
    return url if url and re.fullmatch(URL_RE, url) and url.startswith(("http://", "https://")) else None


def _note(record: RunRecord, build_url: str | None) -> str:
    lines = [f"mlci run `{record.project}/{record.job_id}` — record: `{record.dir / STATUS_FILE}`"]
    if build_url:
        lines.append(f"Jenkins build: {build_url}")
    return "\n\n".join(lines)


def _artifacts(record: RunRecord, max_bytes: int) -> Artifacts:
    state = record.state
    gate = state.gate
    if gate is None or not gate.passed or gate.attempt is None:
        return Artifacts(directory=None)
    attempt = next((a for a in state.attempts if a.n == gate.attempt), None)
    if attempt is None:
        return Artifacts(directory=None)
    directory = record.path(attempt.output_dir)
    files, total = _regular_files(directory)
    if total > max_bytes:
        return Artifacts(
            directory=None,
            note=f"outputs of attempt {attempt.n} not sent: {total} bytes exceed tracking.mlflow.artifacts.max_size"
            f" ({max_bytes} bytes); the record keeps them",
        )
    return Artifacts(
        directory=directory,
        files=files,
        size_bytes=total,
        note=f"outputs of attempt {attempt.n}: {len(files)} files, {total} bytes",
    )


def _regular_files(directory: Path) -> tuple[list[str], int]:
    """Regular files below `directory`, sorted; links are never followed (a stage could point one anywhere)."""
    files: list[str] = []
    total = 0
    if not directory.is_dir() or directory.is_symlink():
        return files, total
    for base, dirs, names in os.walk(directory, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(base, d)))
        for name in sorted(names):
            path = Path(base, name)
            if path.is_symlink() or not path.is_file():
                continue
            files.append(path.relative_to(directory).as_posix())
            total += path.stat().st_size
    return files, total


def _key(name: str) -> str:
    key = _BAD_NAME_CHARS.sub("_", name)[:MAX_KEY] or "_"
    return f"_{key}"[:MAX_KEY] if key.startswith(".") else key


def _masked(run: TrackedRun) -> TrackedRun:
    """Secret values masked in every name and value sent; names made acceptable to MLflow."""
    values = None  # collected once per run by redact_data
    params = redact_data(run.params, values)
    tags = redact_data(run.tags, values)
    metrics = {redact(k): v for k, v in run.metrics.items()}
    return TrackedRun(
        name=redact(run.name),
        attempt=run.attempt,
        start_ms=run.start_ms,
        end_ms=run.end_ms,
        status=run.status,
        params={_key(k): v[:MAX_PARAM_VALUE] for k, v in params.items()},
        metrics={_key(k): v for k, v in metrics.items()},
        step=run.step,
        tags={k[:MAX_KEY]: v[:MAX_TAG_VALUE] for k, v in tags.items()},
    )
