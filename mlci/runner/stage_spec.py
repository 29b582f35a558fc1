"""What one stage's container is made of: image, command, env, labels, mounts, GPU request and the
training defaults. Built by the run, turned into `docker run` by mlci/runner/container.py and
mlci/runner/resources.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlci.runner.gpus import GpuPlan

DEFAULT_STACK_BYTES = 64 * 1024 * 1024  # NVIDIA's `--ulimit stack=67108864`


@dataclass
class StageSpec:
    name: str
    image: str
    command: list[str]
    env: dict[str, str]
    labels: dict[str, str]
    binds: dict[str, dict[str, str]]
    user: str
    timeout_s: int
    project: str = ""
    # the whole GPU plan: the device request, what it means for the record, the leased UUIDs
    gpu: GpuPlan = field(default_factory=lambda: GpuPlan(device_request=None, devices="none"))
    # the host's stage-cache root: the runner mounts the project's own cache from it at /mlci/cache
    cache_root: Path | None = None
    network: str | None = None  # the stage's sidecar network, joined beside the default one
    shm_size: int | None = None  # bytes (project.yaml shm_size, read by mlci/manifest/units.py)
    # mlci keeps the full log in the run record; the engine's own copy is optional ("none" is the
    # fastest, "local" rotates and lets `docker logs`/Portainer show the tail). See README.
    log_driver: str = "none"
    # Training defaults (applied by mlci/runner/resources.py): IPC mode, ulimits, the leased GPUs' UUIDs.
    ipc: str = "private"
    memlock: int | None = None
    stack: int = DEFAULT_STACK_BYTES

    @property
    def device_request(self) -> object | None:
        return self.gpu.device_request
