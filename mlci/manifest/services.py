"""project.yaml's parts for simulation in the loop: per-stage images and sidecar services.

An image is pinned — `sha256:<id>`, `REPO@sha256:<digest>` — or `project:NAME`, the image mlci
builds for that project (this one or another), so a run never picks up whatever a tag points at today.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from mlci.manifest.fields import Duration, SecretName, Strict

IMAGE_REF_RE = (
    r"^(project:[a-z0-9][a-z0-9-]{0,62}|sha256:[0-9a-f]{64}|[a-z0-9][a-z0-9._/:-]{0,200}@sha256:[0-9a-f]{64})\Z"
)
SERVICE_RE = r"^[a-z][a-z0-9-]{0,62}\Z"  # a host name on the stage's network
ENV_RE = r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z"
MAX_SERVICES = 8


def _one_line(value: str) -> str:
    if any(ord(c) < 32 and c != "\t" for c in value):
        raise ValueError("must be one line — put longer scripts in a file")
    return value


ImageRef = Annotated[str, Field(pattern=IMAGE_REF_RE)]
OneLine = Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(_one_line)]
EnvValue = Annotated[str, Field(max_length=4096), AfterValidator(_one_line)]
StageGpus = Literal["inherit", "none"]


class Health(Strict):
    cmd: OneLine = Field(description="run in the service's container by the engine; exit 0 = healthy")
    interval: Duration = 1


class Service(Strict):
    image: ImageRef
    command: OneLine | None = Field(None, description="run with sh -c; default: the image's own command")
    env: dict[Annotated[str, Field(pattern=ENV_RE)], EnvValue] = Field(default_factory=dict)
    secrets: list[SecretName] = Field(default_factory=list, description="of the project's secrets, those it gets")
    gpus: Literal["none", "inherit"] = Field("none", description="inherit: the stage's GPUs, shared")
    health: Health | None = None
    start_timeout: Duration = 60


ServiceName = Annotated[str, Field(pattern=SERVICE_RE)]
Services = Annotated[dict[ServiceName, Service], Field(max_length=MAX_SERVICES)]
