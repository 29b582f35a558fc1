"""GPU requests: `auto | all | none | count=N | device=0,1` → a Docker device request (or none),
mapped to the host's real GPUs (by UUID) when the host's GPU inventory is known."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci.errors import MlciError, UsageError

# docker-py (with requests, ~0.3 s) is imported in the functions that talk to the engine, so that
# commands which never do (`mlci --help`, validate, status) do not pay for it; tests/test_layout.py checks.

NO_RUNTIME_HINT = (
    "install the NVIDIA driver and NVIDIA Container Toolkit and run `nvidia-ctk runtime configure"
    " --runtime=docker && systemctl restart docker` (the Ansible role nvidia_container_toolkit does this),"
    " or run on the CPU with --gpus none"
)
# Written by the Ansible role nvidia_gpu_inventory: index, UUID, name, memory and MIG mode per GPU.
INVENTORY_FILE = Path("/etc/mlci/gpus.json")
MAX_INVENTORY_BYTES = 1 << 20
CLI_HINT = "use auto, all, none, count=N (N GPUs) or device=I[,J] (those GPU indexes), e.g. --gpus device=0,1"


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


def _devices(value: Any, indexes: list[str]) -> GpuRequest:
    if not indexes or not all(re.fullmatch(r"[0-9]{1,3}", p) for p in indexes):
        raise UsageError(f"--gpus {value}: not understood", hint=CLI_HINT)
    devices = tuple(int(p) for p in indexes)
    if len(set(devices)) != len(devices):
        raise UsageError(f"--gpus {value}: a device is listed twice", hint="name each GPU index once")
    return GpuRequest("devices", devices=devices)


def parse_gpus(value: Any) -> GpuRequest:
    """Parse project.yaml's value (an int is a count, a list holds indexes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return GpuRequest("none") if value == 0 else GpuRequest("count", count=value)
    if isinstance(value, list):
        return GpuRequest("devices", devices=tuple(int(i) for i in value))
    return parse_cli_gpus(str(value))


def parse_cli_gpus(value: str) -> GpuRequest:
    """Parse `mlci run --gpus`: a count and a device list cannot be confused. A bare number is
    refused (Docker and project.yaml read `2` as a count, older mlci read it as device 2)."""
    text = value.strip().lower()
    if text in ("auto", "all", "none"):
        return GpuRequest(text)
    if text.startswith("count="):
        count = text.removeprefix("count=")
        if not re.fullmatch(r"[0-9]{1,3}", count):
            raise UsageError(f"--gpus {value}: the count must be a number", hint=CLI_HINT)
        return GpuRequest("none") if int(count) == 0 else GpuRequest("count", count=int(count))
    if text.startswith("device="):
        return _devices(value, [p.strip() for p in text.removeprefix("device=").split(",")])
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1 and re.fullmatch(r"[0-9]{1,3}", parts[0]):
        raise UsageError(
            f"--gpus {value} is ambiguous: say --gpus count={parts[0]} for {parts[0]} GPU(s)"
            f" or --gpus device={parts[0]} for GPU {parts[0]}",
            hint=CLI_HINT,
        )
    if len(parts) > 1:  # "0,1": a list of indexes, as Jenkins' GPU leases give it
        return _devices(value, parts)
    raise UsageError(f"--gpus {value}: not understood", hint=CLI_HINT)


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    device_node: str = ""  # /dev/nvidiaN (legacy requests pass it explicitly)


# Device nodes the inventory may name: /dev/nvidia0, /dev/nvidiactl, /dev/nvidia-uvm, ...
_DEVICE_NODE = re.compile(r"/dev/nvidia[a-z0-9-]{0,20}")


def _device_node(value: Any) -> str:
    return value if isinstance(value, str) and _DEVICE_NODE.fullmatch(value) else ""


def control_device_nodes(path: Path | None = None) -> tuple[str, ...]:
    """The driver's control nodes the inventory recorded (/dev/nvidiactl, /dev/nvidia-uvm, ...)."""
    nodes = (_inventory_file(path) or {}).get("control_device_nodes")
    return tuple(n for n in nodes if _device_node(n)) if isinstance(nodes, list) else ()


def _inventory_file(path: Path | None) -> dict | None:
    path = path or Path(os.environ.get("MLCI_GPU_INVENTORY", INVENTORY_FILE))
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_INVENTORY_BYTES:
            data = json.loads(path.read_text())
            return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
    return None


def cdi_requested(path: Path | None = None) -> bool:
    """Whether the host was provisioned for CDI device requests (nvidia_container_toolkit_mode: cdi)."""
    return (_inventory_file(path) or {}).get("requests") == "cdi"


def inventory_from_file(path: Path | None = None) -> list[Gpu] | None:
    """The GPUs Ansible's inventory recorded (/etc/mlci/gpus.json); None without a readable file."""
    data = _inventory_file(path)
    if data is None:
        return None
    try:
        return sorted(
            (Gpu(int(g["index"]), str(g["uuid"]), _device_node(g.get("device_node"))) for g in data["gpus"]),
            key=lambda g: g.index,
        )
    except (KeyError, TypeError, ValueError):
        return None


def load_inventory(path: Path | None = None) -> list[Gpu] | None:
    """The host's GPUs by index: the Ansible inventory file, else `nvidia-smi`; None when unknown."""
    if _inventory_file(path) is not None:
        return inventory_from_file(path)
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,uuid", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    gpus = []
    for line in done.stdout.splitlines()[:64]:
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 2 and fields[0].isdigit() and re.fullmatch(r"(GPU|MIG)-[0-9A-Za-z-]{1,80}", fields[1]):
            gpus.append(Gpu(int(fields[0]), fields[1]))
    return gpus or None


@dataclass(frozen=True)
class GpuPlan:
    """What a container gets: a device request (None for CPU) and the notice to print, if any."""

    device_request: Any | None
    devices: str  # "all", "0,1", "2 GPUs" or "none" — for the record
    notice: str | None = None
    uuids: tuple[str, ...] = ()  # the host GPUs the container gets, when the inventory is known
    # Legacy requests: the leased GPUs' and the driver's device nodes, passed as explicit devices so
    # runc knows them and a `systemctl daemon-reload` (systemd cgroup driver, cgroup v2) cannot
    # revoke them; the runtime hook alone grants them behind runc's back (runc#4568).
    device_nodes: tuple[str, ...] = ()


def _request(ids: list[str] | None, count: int, cdi: bool) -> Any:
    """Legacy `--gpus` (the nvidia runtime hook) or CDI (`--device nvidia.com/gpu=...`, Docker >= 25)."""
    from docker.types import DeviceRequest

    if cdi:
        names = [f"nvidia.com/gpu={i}" for i in ids] if ids else ["nvidia.com/gpu=all"]
        return DeviceRequest(driver="cdi", device_ids=names)
    if ids:
        return DeviceRequest(device_ids=ids, capabilities=[["gpu"]])
    return DeviceRequest(count=count, capabilities=[["gpu"]])


def plan_gpus(
    request: GpuRequest,
    nvidia_runtime: bool,
    inventory: list[Gpu] | None = None,
    *,
    cdi: bool = False,
    control_nodes: tuple[str, ...] = (),
) -> GpuPlan:
    """The device request for `request`; with the host's inventory, GPUs are named by UUID, so a
    lease maps to the device it means and a missing GPU is an error, not a shifted index. Legacy
    requests also carry the device nodes the inventory recorded."""
    plan = _plan_gpus(request, nvidia_runtime, inventory, cdi=cdi)
    if cdi or not plan.uuids or not inventory:
        return plan
    by_uuid = {g.uuid: g.device_node for g in inventory}
    nodes = [by_uuid.get(u, "") for u in plan.uuids]
    if not all(nodes) or not control_nodes:
        return plan  # an inventory without nodes (an older playbook): the request alone
    return dataclasses.replace(plan, device_nodes=(*control_nodes, *nodes))


def _plan_gpus(request: GpuRequest, nvidia_runtime: bool, inventory: list[Gpu] | None, *, cdi: bool) -> GpuPlan:
    if request.mode == "none":
        return GpuPlan(None, "none")
    if request.mode == "auto" and not nvidia_runtime:
        return GpuPlan(None, "none", "no NVIDIA runtime in this Docker engine: running on the CPU")
    if request.mode in ("auto", "all"):
        uuids = [g.uuid for g in inventory or []]
        return GpuPlan(_request(uuids, -1, cdi), "all", uuids=tuple(uuids))
    if request.mode == "count":
        if inventory:
            if request.count > len(inventory):
                raise MlciError(
                    f"{request.count} GPUs were requested but this host has {len(inventory)}",
                    hint="ask for fewer (project.yaml `gpus:` or --gpus count=N), or check `nvidia-smi -L`",
                )
            uuids = [g.uuid for g in inventory[: request.count]]
            return GpuPlan(_request(uuids, 0, cdi), f"{request.count} GPUs", uuids=tuple(uuids))
        ids = [str(i) for i in range(request.count)] if cdi else None  # CDI has no count: the first N
        return GpuPlan(_request(ids, request.count, cdi), f"{request.count} GPUs")
    ids = ",".join(str(i) for i in request.devices)
    if inventory:
        known = {g.index: g.uuid for g in inventory}
        missing = [i for i in request.devices if i not in known]
        if missing:
            listed = ", ".join(f"{g.index}={g.uuid}" for g in inventory)
            raise MlciError(
                f"GPU {','.join(map(str, missing))} is not on this host (it has {listed})",
                hint="fix the lease or `gpus:` in project.yaml; a removed or dead GPU shifts the indexes after it"
                " — run the Ansible GPU inventory (site.yml) again",
            )
        uuids = [known[i] for i in request.devices]
        return GpuPlan(_request(uuids, 0, cdi), ids, uuids=tuple(uuids))
    return GpuPlan(_request([str(i) for i in request.devices], 0, cdi), ids)


def is_missing_gpu_driver(error: Exception) -> bool:
    """The engine's raw error when GPUs are requested without the NVIDIA Container Toolkit (or CDI)."""
    text = str(error)
    return (
        "could not select device driver" in text
        or "unknown or invalid runtime name: nvidia" in text
        or "unresolvable CDI devices" in text
    )


def gpu_driver_error(devices: str, cdi: bool = False) -> MlciError:
    if cdi:
        return MlciError(
            f"GPUs were requested ({devices}) as CDI devices but this Docker engine cannot resolve them",
            hint="CDI needs Docker >= 25 with features.cdi and the NVIDIA CDI spec: `sudo nvidia-ctk cdi generate"
            " --output=/etc/cdi/nvidia.yaml` (the unit mlci-nvidia-cdi-refresh does it at boot), or provision the"
            " host with nvidia_container_toolkit_mode: legacy",
        )
    return MlciError(
        f"GPUs were requested ({devices}) but this Docker engine has no NVIDIA runtime", hint=NO_RUNTIME_HINT
    )
