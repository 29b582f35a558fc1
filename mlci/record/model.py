"""The run record's typed model: every part with its own status enum and named transitions.

`status.json` is this model dumped by alias (camelCase, the shape of the job-status design mlci
grew from). Code changes a record only through the transitions below; each refuses a move its
part cannot make (finishing a stage twice, judging an attempt that already failed) with a
`RecordError`, so an impossible sequence is a bug caught where it happens, not a record that lies.
The JSON Schema readers validate against (`mlci schema record`) is generated from these classes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from mlci.errors import MlciError
from mlci.record.parts import (
    Experiment,
    GateVerdict,
    GpuUse,
    Outputs,
    Owner,
    Part,
    Phase,
    Publication,
    ServiceUse,
    Tracking,
)
from mlci.record.statuses import (
    ACTIVE,
    FINAL,
    AttemptStatus,
    BuildStatus,
    PhaseStatus,
    RunStatus,
    StageStatus,
)

__all__ = [
    "ACTIVE",
    "FINAL",
    "AttemptStatus",
    "BuildStatus",
    "Experiment",
    "GateVerdict",
    "GpuUse",
    "Outputs",
    "Owner",
    "Part",
    "Phase",
    "PhaseStatus",
    "Publication",
    "RunStatus",
    "ServiceUse",
    "StageStatus",
    "Tracking",
]

# 1: the first typed shape; 2 adds publish.digest/configHash and attempt links; 3 adds
# publish.version (all load).
SCHEMA_VERSION = 3
OLDEST_SCHEMA_VERSION = 1


class RecordError(MlciError):
    """An impossible transition: a bug in mlci, never the user's input."""

    exit_code = 1


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


# ------------------------------------------------------------------ parts


class Build(Part):
    status: BuildStatus = BuildStatus.PENDING
    log: str = "build.log"
    image_uri: str | None = None
    image_id: str | None = None
    cache_hit: bool | None = None
    context_hash: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    digest: str | None = None  # set by a registry push
    repo_digest: str | None = None

    def begin(self) -> None:
        self._expect(BuildStatus.PENDING, "start")
        self.status, self.started_at = BuildStatus.RUNNING, now()

    def succeed(self, *, image_uri: str, image_id: str, cache_hit: bool, context_hash: str, duration_s: float) -> None:
        self._expect(BuildStatus.RUNNING, "finish")
        self.status = BuildStatus.CACHED if cache_hit else BuildStatus.SUCCEEDED
        self.image_uri, self.image_id, self.cache_hit, self.context_hash = image_uri, image_id, cache_hit, context_hash
        self.finished_at, self.duration_s = now(), duration_s

    def fail(self, duration_s: float) -> None:
        self._expect(BuildStatus.RUNNING, "fail")
        self.status, self.finished_at, self.duration_s = BuildStatus.FAILED, now(), duration_s

    def use_image(self, image_uri: str, image_id: str) -> None:
        """No build at all: the run reproduces an exact image."""
        self._expect(BuildStatus.PENDING, "skip")
        self.status, self.image_uri, self.image_id, self.finished_at = BuildStatus.SKIPPED, image_uri, image_id, now()

    def pushed(self, digest: str, repo_digest: str) -> None:
        if not self.image_id:
            raise RecordError("a build without an image cannot be pushed")
        self.digest, self.repo_digest = digest, repo_digest

    def _expect(self, status: BuildStatus, what: str) -> None:
        if self.status != status:
            raise RecordError(f"cannot {what} a build that is {self.status.value}")


class Stage(Part):
    name: str
    status: StageStatus = StageStatus.RUNNING
    exit_code: int | None = None
    duration_s: float | None = None
    log: str
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    device_requests: list[dict[str, Any]] | None = None
    image: str | None = None  # set when the stage ran another image than the project's
    services: list[ServiceUse] = Field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.status == StageStatus.RUNNING

    def finish(self, status: StageStatus, exit_code: int | None, duration_s: float, device_requests: Any) -> None:
        """The container ended (Succeeded, Failed with its exit code, or Timed Out)."""
        if status not in (StageStatus.SUCCEEDED, StageStatus.FAILED, StageStatus.TIMED_OUT):
            raise RecordError(f"a stage cannot finish as {status}")
        self._expect_open("finish")
        self.status, self.exit_code, self.duration_s = status, exit_code, round(duration_s, 3)
        self.device_requests, self.finished_at = device_requests, now()

    def fail(self, error: str, device_requests: Any = None) -> None:
        """The stage could not run (the engine refused it, the log could not be written)."""
        self._expect_open("fail")
        self.status, self.error, self.device_requests, self.finished_at = (
            StageStatus.FAILED,
            error,
            device_requests,
            now(),
        )

    def end(self, status: StageStatus, stamp: str) -> None:
        """Closed with the run (cancelled, interrupted, failed elsewhere)."""
        if self.open:
            self.status, self.finished_at = status, self.finished_at or stamp

    def _expect_open(self, what: str) -> None:
        if not self.open:
            raise RecordError(f"cannot {what} stage {self.name}: it is already {self.status.value}")


class Attempt(Part):
    n: int
    status: AttemptStatus = AttemptStatus.RUNNING
    started_at: str | None = None
    finished_at: str | None = None
    output_dir: str
    stages: list[Stage] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    gate: GateVerdict | None = None
    outputs: Outputs | None = None
    metrics_rejected: dict[str, str] | None = None
    error: str | None = None
    previous: int | None = None  # the attempt this one retrains after (its gate failed)

    @property
    def open(self) -> bool:
        return self.status == AttemptStatus.RUNNING

    @property
    def retrainable(self) -> bool:
        """Failed on its gate alone: a new attempt may do better. A crash or a refused output may not."""
        return self.status == AttemptStatus.FAILED and self.gate is not None and not self.gate.passed

    def begin_stage(self, name: str, log: str) -> Stage:
        self._expect_open("start a stage in")
        if any(stage.open for stage in self.stages):
            raise RecordError(f"attempt {self.n} already has a running stage")
        stage = Stage(name=name, log=log, started_at=now())
        self.stages.append(stage)
        return stage

    def fail(self, error: str) -> None:
        self._expect_open("fail")
        self.status, self.error, self.finished_at = AttemptStatus.FAILED, error, now()

    def refuse_outputs(self, reason: str) -> None:
        self.outputs = Outputs(passed=False, reason=reason)
        self.fail(reason)

    def accept_outputs(self, files: int, size_bytes: int) -> None:
        self._expect_open("check the outputs of")
        self.outputs = Outputs(passed=True, files=files, size_bytes=size_bytes)

    def judge(self, verdict: GateVerdict, metrics: dict[str, float], rejected: dict[str, str] | None) -> None:
        """The gate's verdict ends the attempt."""
        self._expect_open("judge")
        if any(stage.open for stage in self.stages):
            raise RecordError(f"attempt {self.n} cannot be judged while a stage runs")
        self.metrics, self.gate = metrics, verdict
        self.metrics_rejected = rejected or None
        self.status = AttemptStatus.SUCCEEDED if verdict.passed else AttemptStatus.FAILED
        self.finished_at = now()

    def end(self, status: AttemptStatus, stamp: str, error: str | None) -> None:
        stage_status = StageStatus(status.value)
        for stage in self.stages:
            stage.end(stage_status, stamp)
        if self.open:
            self.status, self.finished_at = status, self.finished_at or stamp
            self.error = self.error or error

    def _expect_open(self, what: str) -> None:
        if not self.open:
            raise RecordError(f"cannot {what} attempt {self.n}: it is already {self.status.value}")


# ------------------------------------------------------------------ the record


class Record(Part):
    """status.json."""

    schema_version: int = SCHEMA_VERSION
    job_id: str
    project: str
    overall_status: RunStatus = RunStatus.QUEUED
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    owner: Owner | None = None
    commit: str | None = None
    dirty: bool | None = None
    build: Build = Field(default_factory=Build)
    run: Phase = Field(default_factory=Phase)
    gpus: GpuUse | None = None
    # the most attempts this run may make: project.yaml's retrain.max_attempts or `--max-attempts`
    # (absent in records written before mlci kept it)
    max_attempts: int | None = Field(default=None, ge=1)
    attempts: list[Attempt] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    gate: GateVerdict | None = None
    publish: Publication | None = None
    images: dict[str, str] = Field(default_factory=dict)  # stages' and services' `image:` → the image id run
    config_hash: str | None = None  # sha256 of the effective config.yaml the stages saw
    experiment: Experiment | None = None
    rerun_of: str | None = None  # the job id this run reproduces (same image, same effective config)
    tracking: Tracking | None = None
    error: str | None = None

    # -------------------------------------------------------------- transitions
    def begin_build(self) -> None:
        self._expect_status(RunStatus.QUEUED, "build")
        self.build.begin()
        self.overall_status = RunStatus.BUILDING

    def begin_running(self) -> None:
        if self.overall_status not in (RunStatus.QUEUED, RunStatus.BUILDING):
            raise RecordError(f"cannot start the stages of a run that is {self.overall_status.value}")
        if self.build.status in (BuildStatus.PENDING, BuildStatus.RUNNING):
            raise RecordError(f"cannot start the stages while the build is {self.build.status.value}")
        self.overall_status, self.run.status = RunStatus.RUNNING, PhaseStatus.RUNNING

    def begin_attempt(self) -> Attempt:
        self._expect_status(RunStatus.RUNNING, "start an attempt of")
        last = self.attempts[-1] if self.attempts else None
        if last is not None and last.open:
            raise RecordError(f"attempt {last.n} is still running")
        n = len(self.attempts) + 1
        attempt = Attempt(
            n=n, started_at=now(), output_dir=f"attempt-{n}/out", previous=last.n if last is not None else None
        )
        self.attempts.append(attempt)
        return attempt

    def begin_stage(self, attempt: Attempt, name: str) -> Stage:
        stage = attempt.begin_stage(name, f"attempt-{attempt.n}/{name}.log")
        self.run.log = stage.log
        return stage

    def adopt(self, attempt: Attempt) -> None:
        """A judged attempt's metrics and verdict become the run's (the last judged one wins)."""
        if attempt.gate is None:
            raise RecordError(f"attempt {attempt.n} has no verdict to adopt")
        self.metrics = dict(attempt.metrics)
        self.gate = attempt.gate.model_copy(update={"attempt": attempt.n})
        self.run.output_dir = attempt.output_dir

    def published(
        self, store: str, url: str, *, digest: str | None = None, config_hash: str | None = None
    ) -> Publication:
        """One publication, the same whichever path made it (mlci run, mlci publish)."""
        if self.overall_status != RunStatus.SUCCEEDED and not (
            self.overall_status == RunStatus.RUNNING and self.gate is not None and self.gate.passed
        ):
            raise RecordError(f"cannot publish a run that is {self.overall_status.value}")
        self.publish = Publication(
            store=store, url=url, published_at=now(), digest=digest, config_hash=config_hash or self.config_hash
        )
        self.config_hash = self.publish.config_hash
        self.run.artifact_url = url
        return self.publish

    def versioned(self, version: str) -> None:
        """The store's version index gave this publication its model version (written there last)."""
        if self.publish is None:
            raise RecordError(f"run {self.job_id} has no publication to version")
        if self.publish.version not in (None, version):
            raise RecordError(f"publication of run {self.job_id} is already {self.publish.version}, not {version}")
        # validated, not copied: the version must match its pattern (`v` and digits)
        self.publish = Publication.model_validate({**self.publish.model_dump(), "version": version})

    def close(self, status: RunStatus, error: str | None) -> None:
        """End the run as `status`, and every part still open with the state that is true for it:
        a cancelled run's running stage was cancelled, not failed; a build that never started was
        skipped. Every exit path goes through here."""
        if status in ACTIVE:
            raise RecordError(f"a run cannot close as {status.value}")
        if not self.overall_status.active:
            raise RecordError(f"run {self.job_id} is already closed ({self.overall_status.value})")
        stamp = now()
        part = {RunStatus.CANCELLED: "Cancelled", RunStatus.INTERRUPTED: "Interrupted"}.get(status, "Failed")
        if self.build.status == BuildStatus.RUNNING:
            self.build.status, self.build.finished_at = BuildStatus(part), self.build.finished_at or stamp
        elif self.build.status == BuildStatus.PENDING:
            self.build.status = BuildStatus.SKIPPED
        for attempt in self.attempts:
            attempt.end(AttemptStatus(part), stamp, error)
        self.overall_status = status
        self.run.status = {
            RunStatus.SUCCEEDED: PhaseStatus.SUCCEEDED,
            RunStatus.BUILD_FAILED: PhaseStatus.SKIPPED,
            RunStatus.FAILED: PhaseStatus.FAILED,
            RunStatus.CANCELLED: PhaseStatus.CANCELLED,
            RunStatus.INTERRUPTED: PhaseStatus.INTERRUPTED,
        }[status]
        self.error = error
        self.finished_at = self.finished_at or stamp

    def _expect_status(self, status: RunStatus, what: str) -> None:
        if self.overall_status != status:
            raise RecordError(f"cannot {what} a run that is {self.overall_status.value}")


def record_json_schema() -> dict[str, Any]:
    """The JSON Schema of status.json, as readers (the dashboard, Jenkins, history) validate it."""
    schema = Record.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mlci.dev/schemas/status.json"
    schema["title"] = "mlci run record (status.json)"
    return schema
