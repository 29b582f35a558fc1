"""The record's parts that only hold values (no transitions of their own): who owns the run, the
training phase, GPUs, the gate's verdict, the outputs check, services, publication, experiment and
tracking. mlci.record.model re-exports them with the parts that change state."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mlci.record.statuses import PhaseStatus

VERSION_PATTERN = r"^v[1-9][0-9]*$"  # a model version: `v` and a number from 1, no leading zeros


class Part(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Owner(Part):
    """Who runs the job: a reader tells a live run from a dead one by these (see record.owner)."""

    pid: int
    host: str
    start_ticks: int | None = None
    boot: str | None = None


class Phase(Part):
    """The job-status design's `run` part: the training phase, its current log and the artifact."""

    status: PhaseStatus = PhaseStatus.PENDING
    log: str | None = None
    artifact_url: str | None = None
    output_dir: str | None = None


class GpuUse(Part):
    requested: str
    devices: str  # "all", "0,1", "2 GPUs" or "none"
    uuids: list[str] = Field(default_factory=list)


class GateVerdict(Part):
    metric: str | None
    op: str | None
    threshold: float | None
    value: float | None = None
    passed: bool
    reason: str
    attempt: int | None = None  # on the run's own verdict: which attempt it judged


class Outputs(Part):
    """The boundary check of what an attempt's stages left in /mlci/out."""

    passed: bool
    files: int | None = None
    size_bytes: int | None = Field(default=None, alias="bytes")
    reason: str | None = None


class ServiceUse(Part):
    """A sidecar service that ran beside a stage (project.yaml `services:`)."""

    name: str
    image: str
    status: str  # Healthy | Unhealthy | Exited | Removed
    error: str | None = None
    log: str  # relative to the record, beside the stage's log


class Publication(Part):
    store: str
    url: str
    published_at: str
    digest: str | None = None  # what the store holds: the outputs' content digest
    config_hash: str | None = None
    version: str | None = Field(default=None, pattern=VERSION_PATTERN)  # the store's model version (v1, v2, ...)


class Experiment(Part):
    """An experiment run: its name and the config.yaml values it overrides (never published)."""

    name: str
    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted path → the YAML scalar it was set to


class Tracking(Part):
    """Where the run is mirrored in an experiment tracker (MLflow), or why it is not yet."""

    server: str  # the tracking URI without credentials
    experiment_id: str | None = None
    run_id: str | None = None
    url: str | None = None
    warning: str | None = None  # the tracker was down or refused: `mlci track` sends it later
