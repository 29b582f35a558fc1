"""The record's status enums, one per part (README, "The run record"). FINAL is what the Jenkins
library's Records.FINAL copies (tests/library/test_contract_names.py)."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """overallStatus."""

    QUEUED = "Queued"
    BUILDING = "Building"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    BUILD_FAILED = "Build Failed"
    CANCELLED = "Cancelled"
    INTERRUPTED = "Interrupted"

    @property
    def active(self) -> bool:
        return self in ACTIVE


ACTIVE = frozenset({RunStatus.QUEUED, RunStatus.BUILDING, RunStatus.RUNNING})
FINAL = tuple(s for s in RunStatus if s not in ACTIVE)


class BuildStatus(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    CACHED = "Cached"
    SKIPPED = "Skipped"  # never started (the run ended first), or an exact image was given
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    INTERRUPTED = "Interrupted"


class PhaseStatus(StrEnum):
    """run.status: the training phase as the job-status design names it."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    CANCELLED = "Cancelled"
    INTERRUPTED = "Interrupted"


class AttemptStatus(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    INTERRUPTED = "Interrupted"


class StageStatus(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMED_OUT = "Timed Out"
    CANCELLED = "Cancelled"
    INTERRUPTED = "Interrupted"
