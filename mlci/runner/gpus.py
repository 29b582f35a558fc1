"""GPU requests: `auto | all | none | N | 0,1` → a Docker device request (or none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlci.errors import MlciError, UsageError

NO_RUNTIME_HINT = (
    "install the NVIDIA driver and NVIDIA Container Toolkit and run `nvidia-ctk runtime configure"
    " --runtime=docker && systemctl restart docker` (the Ansible role nvidia_container_toolkit does this),"
    " or run on the CPU with --gpus none"
)


@dataclass(frozen=True)
class GpuRequest:
    """What the user asked for; `devices` holds indexes, `count` -1 means all GPUs."""

    mode: str  # auto | all | none | count | devices
    count: int = 0
    devices: tuple[int, ...] = ()

    def describe(self) -> str:
        return {"auto": "auto", "all": "all", "none": "none", "count": str(self.count)}.get(
            self.mode, ",".join(map(str, self.devices))
        )


def parse_gpus(value: Any) -> GpuRequest:
    """Parse a CLI string or project.yaml value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return GpuRequest("none") if value == 0 else GpuRequest("count", count=value)
    if isinstance(value, list):
        return GpuRequest("devices", devices=tuple(int(i) for i in value))
    text = str(value).strip().lower()
    if text in ("auto", "all", "none"):
        return GpuRequest(text)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if parts and all(p.isdigit() for p in parts):
        devices = tuple(int(p) for p in parts)
        if len(set(devices)) != len(devices):
            raise UsageError(f"--gpus {value}: a device is listed twice", hint="name each GPU index once")
        return GpuRequest("devices", devices=devices)
    raise UsageError(f"--gpus {value}: not understood", hint="use auto, all, none, or device indexes such as 0,1")


@dataclass(frozen=True)
class GpuPlan:
    """What a container gets: a device request (None for CPU) and the notice to print, if any."""

    device_request: Any | None
    devices: str  # "all", "0,1", "2 GPUs" or "none" — for the record
    notice: str | None = None


def plan_gpus(request: GpuRequest, nvidia_runtime: bool) -> GpuPlan:
    from docker.types import DeviceRequest

    if request.mode == "none":
        return GpuPlan(None, "none")
    if request.mode == "auto":
        if not nvidia_runtime:
            return GpuPlan(None, "none", "no NVIDIA runtime in this Docker engine: running on the CPU")
        return GpuPlan(DeviceRequest(count=-1, capabilities=[["gpu"]]), "all")
    if request.mode == "all":
        return GpuPlan(DeviceRequest(count=-1, capabilities=[["gpu"]]), "all")
    if request.mode == "count":
        return GpuPlan(DeviceRequest(count=request.count, capabilities=[["gpu"]]), f"{request.count} GPUs")
    ids = [str(i) for i in request.devices]
    return GpuPlan(DeviceRequest(device_ids=ids, capabilities=[["gpu"]]), ",".join(ids))


def is_missing_gpu_driver(error: Exception) -> bool:
    """The engine's raw error when --gpus is used without the NVIDIA Container Toolkit."""
    text = str(error)
    return "could not select device driver" in text or "unknown or invalid runtime name: nvidia" in text


def gpu_driver_error(devices: str) -> MlciError:
    return MlciError(
        f"GPUs were requested ({devices}) but this Docker engine has no NVIDIA runtime", hint=NO_RUNTIME_HINT
    )
