"""What one stage's container is made of: image, command, env, labels, mounts, GPU request and the
training defaults. Built by the run, turned into `docker run` by mlci/runner/container.py and
mlci/runner/resources.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    device_request: Any | None = None
    gpu_devices: str = "none"
    shm_size: int | None = None  # bytes (project.yaml shm_size, read by mlci/manifest/units.py)
    # mlci keeps the full log in the run record; the engine's own copy is optional ("none" is the
    # fastest, "local" rotates and lets `docker logs`/Portainer show the tail). See README.
    log_driver: str = "none"
    # Training defaults (applied by mlci/runner/resources.py): IPC mode, ulimits, the leased GPUs' UUIDs.
    ipc: str = "private"
    memlock: int | None = None
    stack: int = DEFAULT_STACK_BYTES
    gpu_uuids: tuple[str, ...] = ()
