"""The record's named transitions: what each moves, and the impossible moves each refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlci.record.model import GateVerdict, Record, RecordError, RunStatus, StageStatus


def record() -> Record:
    return Record(job_id="j", project="p", created_at="2026-12-05T00:00:00.000Z", updated_at="x")


def passing() -> GateVerdict:
    return GateVerdict(metric="acc", op=">=", threshold=0.9, value=0.95, passed=True, reason="acc = 0.95 >= 0.9")


def running() -> Record:
    state = record()
    state.begin_build()
    state.build.succeed(image_uri="i", image_id="sha256:1", cache_hit=False, context_hash="h", duration_s=1)
    state.begin_running()
    return state


def test_a_run_moves_through_its_states_in_order():
    state = record()
    assert state.overall_status == RunStatus.QUEUED
    state.begin_build()
    assert state.overall_status == RunStatus.BUILDING and state.build.status == "Running"
    state.build.succeed(image_uri="i", image_id="sha256:1", cache_hit=True, context_hash="h", duration_s=1)
    assert state.build.status == "Cached"
    state.begin_running()
    attempt = state.begin_attempt()
    stage = state.begin_stage(attempt, "train")
    assert state.run.log == "attempt-1/train.log" == stage.log
    stage.finish(StageStatus.SUCCEEDED, 0, 2.0, None)
    attempt.accept_outputs(1, 10)
    attempt.judge(passing(), {"acc": 0.95}, None)
    state.adopt(attempt)
    state.published("local", "file:///x", digest="sha256:2", config_hash="sha256:3")
    state.versioned("v4")
    state.close(RunStatus.SUCCEEDED, None)
    assert state.publish is not None and state.publish.version == "v4"
    assert state.run.status == "Succeeded" and state.run.artifact_url == "file:///x" and state.config_hash == "sha256:3"
    assert state.gate is not None and state.gate.attempt == 1


@pytest.mark.parametrize(
    "move, message",
    [
        (lambda s: s.begin_attempt(), "cannot start an attempt of a run that is Queued"),
        (lambda s: s.begin_running(), "while the build is Pending"),
        (lambda s: s.build.fail(1.0), "cannot fail a build that is Pending"),
        (lambda s: s.close(RunStatus.RUNNING, None), "a run cannot close as Running"),
        (lambda s: s.published("local", "file:///x"), "cannot publish a run that is Queued"),
    ],
)
def test_impossible_moves_of_a_new_run_are_refused(move, message):
    with pytest.raises(RecordError, match=message):
        move(record())


def test_impossible_moves_of_attempts_and_stages_are_refused():
    state = running()
    attempt = state.begin_attempt()
    stage = state.begin_stage(attempt, "train")
    with pytest.raises(RecordError, match="still running"):
        state.begin_attempt()
    with pytest.raises(RecordError, match="already has a running stage"):
        state.begin_stage(attempt, "evaluate")
    with pytest.raises(RecordError, match="cannot be judged while a stage runs"):
        attempt.judge(passing(), {}, None)
    with pytest.raises(RecordError, match="cannot finish as Cancelled"):
        stage.finish(StageStatus.CANCELLED, None, 1.0, None)
    stage.finish(StageStatus.FAILED, 2, 1.0, None)
    with pytest.raises(RecordError, match="cannot finish stage train: it is already Failed"):
        stage.finish(StageStatus.SUCCEEDED, 0, 1.0, None)
    attempt.fail("stage train exited with code 2")
    with pytest.raises(RecordError, match="cannot judge attempt 1: it is already Failed"):
        attempt.judge(passing(), {}, None)
    with pytest.raises(RecordError, match="no verdict to adopt"):
        state.adopt(attempt)
    state.close(RunStatus.FAILED, "stage train exited with code 2")
    with pytest.raises(RecordError, match="already closed"):
        state.close(RunStatus.SUCCEEDED, None)


def test_close_ends_every_open_part_with_its_true_state():
    state = running()
    attempt = state.begin_attempt()
    state.begin_stage(attempt, "train")
    state.close(RunStatus.CANCELLED, "cancelled (SIGTERM)")
    assert attempt.status == "Cancelled" and attempt.stages[0].status == "Cancelled"
    assert attempt.error == "cancelled (SIGTERM)" and attempt.finished_at and attempt.stages[0].finished_at
    assert state.run.status == "Cancelled" and state.build.status == "Succeeded"  # finished before: untouched

    building = record()
    building.begin_build()
    building.close(RunStatus.INTERRUPTED, "died")
    assert building.build.status == "Interrupted" and building.run.status == "Interrupted"

    queued = record()
    queued.close(RunStatus.FAILED, "a secret was missing")
    assert queued.build.status == "Skipped"  # never started


def test_only_a_gate_failure_is_retrainable():
    state = running()
    crashed = state.begin_attempt()
    crashed.fail("stage train exited with code 1")
    assert not crashed.retrainable
    judged = state.begin_attempt()
    assert judged.previous == 1
    judged.judge(passing().model_copy(update={"passed": False}), {"acc": 0.5}, None)
    assert judged.retrainable
    refused = state.begin_attempt()
    refused.refuse_outputs("a symbolic link: secret")
    assert not refused.retrainable and refused.outputs is not None and not refused.outputs.passed


def test_a_version_needs_a_publication_and_the_pattern_and_never_changes():
    state = running()
    with pytest.raises(RecordError, match="no publication to version"):
        state.versioned("v1")
    attempt = state.begin_attempt()
    state.begin_stage(attempt, "train").finish(StageStatus.SUCCEEDED, 0, 1.0, None)
    attempt.judge(passing(), {"acc": 0.95}, None)
    state.adopt(attempt)
    state.published("local", "file:///x")
    for bad in ("1", "v0", "v01", "v1 ", "latest"):
        with pytest.raises(ValidationError):
            state.versioned(bad)
    assert state.publish is not None and state.publish.version is None
    state.versioned("v2")
    state.versioned("v2")  # the same version again: idempotent
    with pytest.raises(RecordError, match="already v2, not v3"):
        state.versioned("v3")
