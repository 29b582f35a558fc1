"""Run records for tests, made through the record's own transitions (never as hand-written dicts),
so a fixture cannot hold a state mlci itself could not reach."""

from __future__ import annotations

from pathlib import Path

from mlci.record.model import GateVerdict, RunStatus, StageStatus
from mlci.record.store import RunRecord

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def gate_verdict(value: float, threshold: float = 0.9) -> GateVerdict:
    passed = value >= threshold
    return GateVerdict(
        metric="accuracy",
        op=">=",
        threshold=threshold,
        value=value,
        passed=passed,
        reason=f"accuracy = {value:g} {'' if passed else 'not '}>= {threshold:g}",
    )


def finished_run(
    root: Path,
    project: str = "digits",
    job: str = "job-1",
    *,
    values: tuple[float, ...] = (0.85, 0.93),
    files: dict[str, bytes] | None = None,
    extra_metrics: dict[str, float] | None = None,
    image_id: str = "sha256:" + "ab" * 32,
    close: bool = True,
    no_gate: bool = False,
    commit: str = COMMIT,
) -> RunRecord:
    """A run built from cache whose attempts reached `values` of accuracy against a 0.9 gate; the
    last attempt's `out/` holds `files`. Closed Succeeded when the last value passes, else Failed."""
    record = RunRecord.create(root, project, job, commit=commit, dirty=False)
    state = record.state
    state.begin_build()
    state.build.succeed(
        image_uri=f"mlci/{project}:abc123", image_id=image_id, cache_hit=True, context_hash="c" * 64, duration_s=0.1
    )
    state.begin_running()
    for value in values:
        attempt = state.begin_attempt()
        stage = state.begin_stage(attempt, "train")
        stage.finish(StageStatus.SUCCEEDED, 0, 1.0, None)
        attempt.accept_outputs(1, 7)
        metrics = {"accuracy": value, **(extra_metrics or {})}
        verdict = (
            GateVerdict(metric=None, op=None, threshold=None, passed=True, reason="no gate")
            if no_gate
            else gate_verdict(value)
        )
        attempt.judge(verdict, metrics, None)
        state.adopt(attempt)
    out = record.path(state.attempts[-1].output_dir)
    for name, content in (files or {"model.bin": b"weights", "metrics.json": b'{"accuracy": 0.93}'}).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    if close:
        passed = state.gate is not None and state.gate.passed
        state.close(RunStatus.SUCCEEDED if passed else RunStatus.FAILED, None if passed else state.gate.reason)
    record.save()
    return record
