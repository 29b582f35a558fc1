"""Container defaults for training stages: shared memory, IPC, ulimits and the GPU environment.

Docker's defaults suit services, not training: a 64 MiB /dev/shm kills PyTorch DataLoader workers
with bus errors, and NCCL needs locked memory and a large stack. These are the settings NVIDIA
runs its own containers with (`--ipc=host --ulimit memlock=-1 --ulimit stack=67108864`), except
that IPC stays private unless project.yaml asks for `ipc: host`, with a large /dev/shm instead.
"""

from __future__ import annotations

from typing import Any

from mlci.runner.stage_spec import StageSpec

# docker-py (with requests, ~0.3 s) is imported in the functions that talk to the engine, so that
# commands which never do (`mlci --help`, validate, status) do not pay for it; tests/test_layout.py checks.

DEFAULT_SHM_SIZE = 8 << 30  # bytes
UNLIMITED = -1


def host_options(spec: StageSpec) -> dict[str, Any]:
    """Keyword arguments for `create_host_config`: shm size, IPC mode and ulimits."""
    from docker.types import Ulimit

    options: dict[str, Any] = {"ipc_mode": spec.ipc}
    if spec.ipc != "host":  # with the host's IPC namespace the container uses the host's /dev/shm
        options["shm_size"] = spec.shm_size or DEFAULT_SHM_SIZE
    # Locked memory: unlimited for GPU stages (NCCL, CUDA pinned memory); CPU stages keep the
    # engine's default unless project.yaml sets one (raising it needs CAP_SYS_RESOURCE in dockerd).
    memlock = spec.memlock if spec.memlock is not None else (UNLIMITED if spec.device_request is not None else None)
    ulimits = [Ulimit(name="stack", soft=spec.stack, hard=spec.stack)]
    if memlock is not None:
        ulimits.append(Ulimit(name="memlock", soft=memlock, hard=memlock))
    options["ulimits"] = ulimits
    return options


def environment(spec: StageSpec) -> dict[str, str]:
    """The stage's environment plus what CUDA needs to number GPUs like nvidia-smi and, for GPU
    stages, the leased GPUs' UUIDs (MLCI_GPU_UUIDS, comma-separated; empty when the host's
    inventory is unknown)."""
    env = dict(spec.env)
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    if spec.device_request is not None:
        env["MLCI_GPU_UUIDS"] = ",".join(spec.gpu_uuids)
    return env


def rlimit_hint(error: Exception) -> str | None:
    """A fix for the engine's error when it may not raise a ulimit (dockerd without CAP_SYS_RESOURCE)."""
    if "error setting rlimit" in str(error) or "setrlimit" in str(error):
        return (
            "the Docker engine may not raise the container's ulimits (memlock/stack) on this host:"
            " set lower values in project.yaml, e.g. `ulimits: {memlock: 8388608}`"
        )
    return None
