"""Typed schema of projects/<name>/project.yaml (mlci.yaml's is in mlci/manifest/schema.py; the
same rules: unknown keys refused, every free-form string constrained)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlci.errors import UsageError
from mlci.manifest.fields import STAGE_RE, ByteSize, Duration, GpuSpec, Name, SafePath, SecretName, Strict
from mlci.manifest.serve import Serve
from mlci.manifest.services import ImageRef, Services, StageGpus


class Stage(Strict):
    name: Annotated[str, Field(pattern=STAGE_RE)]
    run: Annotated[str, Field(min_length=1, max_length=4096)]
    timeout: Duration | None = None
    image: ImageRef | None = Field(None, description="this stage's image; default: the project's")
    gpus: StageGpus = Field("inherit", description="none: no device request for this stage (CPU)")
    services: Services = Field(default_factory=dict)

    @field_validator("run")
    @classmethod
    def _no_control_chars(cls, value: str) -> str:
        if any(ord(c) < 32 and c not in "\t" for c in value):
            raise ValueError("must be one line — put longer scripts in a file such as run.sh")
        return value


class Gate(Strict):
    metric: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}\Z")]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Gate:
        if (self.min is None) == (self.max is None):
            raise ValueError("needs exactly one bound — set `min:` (accuracy-like) or `max:` (loss-like)")
        return self

    def passes(self, value: float) -> bool:
        return value >= self.min if self.min is not None else value <= self.max  # type: ignore[operator]

    def describe(self) -> str:
        return f"{self.metric} >= {self.min:g}" if self.min is not None else f"{self.metric} <= {self.max:g}"


MAX_ATTEMPTS = 20


class Retrain(Strict):
    max_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)] = 1


def max_attempts_option(value: str | None) -> int | None:
    """`--max-attempts N` (mlci run, mlci plan): None keeps project.yaml's retrain.max_attempts;
    otherwise a whole number within the same bounds as the schema's."""
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 4 and 1 <= int(text) <= MAX_ATTEMPTS):
        raise UsageError(
            f"--max-attempts {value[:40]!r} is not a whole number from 1 to {MAX_ATTEMPTS}",
            hint="give the most attempts this run may make, e.g. --max-attempts 3 (omit it for project.yaml's "
            "retrain.max_attempts)",
        )
    return int(text)


class Publish(Strict):
    store: Name | None = Field(None, description="store name from mlci.yaml artifacts.stores")
    approval: bool = False
    submitter: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@,-]{1,200}\Z")] | None = None
    approval_timeout: Duration = 86400


class Ulimits(Strict):
    memlock: Annotated[int, Field(ge=-1)] | None = Field(
        None,
        description="locked-memory limit in bytes, -1 unlimited; default: unlimited for GPU stages, the engine's otherwise",
    )
    stack: Annotated[int, Field(ge=-1)] = Field(64 * 1024 * 1024, description="stack size limit in bytes, -1 unlimited")


def _default_stages() -> list[Stage]:
    return [Stage(name="train", run="./run.sh")]


class Project(Strict):
    gpus: GpuSpec = "auto"
    timeout: Duration = 7200
    stages: Annotated[list[Stage], Field(min_length=1)] = Field(default_factory=_default_stages)
    gate: Gate | None = None
    retrain: Retrain = Retrain()
    publish: Publish = Publish()
    secrets: list[SecretName] = Field(default_factory=list)
    depends_on: list[SafePath] = Field(default_factory=list)
    shm_size: ByteSize | None = Field(None, description="/dev/shm size, e.g. 8g (default 8g)")
    ipc: Literal["private", "shareable", "host"] = Field(
        "private", description="IPC namespace; `host` shares the host's /dev/shm (shm_size then does not apply)"
    )
    ulimits: Ulimits = Field(default_factory=Ulimits)
    services: Services = Field(default_factory=dict, description="started beside every stage")
    serve: Serve | None = Field(None, description="how a published version serves (mlci deploy, mlci bundle)")

    @model_validator(mode="after")
    def _unique_stage_names(self) -> Project:
        names = [s.name for s in self.stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stage names must be unique (repeated: {', '.join(dupes)}) — rename one")
        return self

    @model_validator(mode="after")
    def _services_fit_the_project(self) -> Project:
        for stage in self.stages:
            shared = sorted(set(stage.services) & set(self.services))
            if shared:
                raise ValueError(f"stage {stage.name} redeclares project service {', '.join(shared)} — rename one")
            for name, service in {**self.services, **stage.services}.items():
                unknown = sorted(set(service.secrets) - set(self.secrets))
                if unknown:
                    raise ValueError(
                        f"service {name} takes secrets the project does not declare ({', '.join(unknown)}) — "
                        "add them to `secrets:`"
                    )
        return self
