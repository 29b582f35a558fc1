"""The smoke check's Docker side: the engine's facts, which running containers a daemon-reload
would take GPUs from, a probe container per GPU, and a real `mlci run` stage.

Containers get their GPUs exactly as stages do: the device request from mlci.runner.gpus
(by UUID; legacy `--gpus` or CDI as the host's inventory says) and the stage's shm, ulimits and
environment from mlci.runner.resources. The stage check goes further and runs `mlci run` itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlci.runner import resources
from mlci.runner.container import StageSpec
from mlci.runner.gpus import Gpu, GpuPlan, GpuRequest, plan_gpus

PROBE_SOURCE = (Path(__file__).with_name("container_probe.py")).read_text(encoding="utf-8")
LABELS = {"mlci.smoke": "gpu"}
PROJECT = "gpu-smoke"
JOB = "smoke"
STAGE = "probe"
MAX_LOG = 64 * 1024
NVIDIA_NODE = re.compile(r"^/dev/nvidia[0-9]+$")


# ---------------------------------------------------------------- the engine
@dataclass(frozen=True)
class Engine:
    version: str
    api: str
    cgroup_driver: str  # systemd | cgroupfs
    cgroup_version: str  # "1" | "2" ("" on engines that do not say)
    runtimes: tuple[str, ...]
    default_runtime: str
    cdi_spec_dirs: tuple[str, ...]  # empty unless CDI is enabled (Docker >= 25, features.cdi)

    def describe(self) -> str:
        cgroup = f"cgroup v{self.cgroup_version}" if self.cgroup_version else "cgroup version unknown"
        return (
            f"Docker {self.version} (API {self.api}), cgroup driver {self.cgroup_driver or '?'} ({cgroup}),"
            f" runtimes {', '.join(self.runtimes) or 'none'} (default {self.default_runtime or '?'})"
            + (f", CDI specs in {', '.join(self.cdi_spec_dirs)}" if self.cdi_spec_dirs else ", CDI off")
        )


def engine_facts(version: dict, info: dict) -> Engine:
    return Engine(
        version=str(version.get("Version", "?")),
        api=str(version.get("ApiVersion", "?")),
        cgroup_driver=str(info.get("CgroupDriver") or ""),
        cgroup_version=str(info.get("CgroupVersion") or ""),
        runtimes=tuple(sorted((info.get("Runtimes") or {}).keys())),
        default_runtime=str(info.get("DefaultRuntime") or ""),
        cdi_spec_dirs=tuple(info.get("CDISpecDirs") or ()),
    )


# ---------------------------------------------------------------- who loses GPUs at a daemon-reload
def hook_granted(attrs: dict) -> bool:
    """True when a container's GPUs come from the NVIDIA runtime hook alone: runc does not know
    those device rules, so with the systemd cgroup driver a `systemctl daemon-reload` drops them
    (runc#4568). CDI requests and explicit /dev/nvidiaN device nodes are in the container's spec."""
    host_config = attrs.get("HostConfig") or {}
    explicit = any(NVIDIA_NODE.match(str(d.get("PathOnHost", ""))) for d in host_config.get("Devices") or [])
    if explicit:
        return False
    for request in host_config.get("DeviceRequests") or []:
        capabilities = {c for group in request.get("Capabilities") or [] for c in group}
        if request.get("Driver", "") in ("", "nvidia") and "gpu" in capabilities:
            return True
    env = dict(str(e).partition("=")[::2] for e in (attrs.get("Config") or {}).get("Env") or [])
    visible = env.get("NVIDIA_VISIBLE_DEVICES", "")
    return host_config.get("Runtime") == "nvidia" and visible not in ("", "void", "none")


def at_risk(containers: list[dict], engine: Engine) -> list[str]:
    """Names of running containers a daemon-reload would take GPUs from."""
    if engine.cgroup_driver != "systemd":
        return []
    return [str(c.get("Name", "?")).lstrip("/") for c in containers if hook_granted(c)]


def running_containers(client: Any) -> list[dict]:
    return [c.attrs for c in client.containers.list()]


# ---------------------------------------------------------------- one probe container
def gpu_request(gpu: Gpu | None, *, cdi: bool) -> Any:
    """The device request a stage gets for this one GPU (by UUID), or for all GPUs with None."""
    if gpu is None:
        return None
    return plan_gpus(GpuRequest("devices", devices=(gpu.index,)), True, [gpu], cdi=cdi).device_request


def probe_container(client: Any, image: str, request: Any, uuids: tuple[str, ...], *, timeout: float) -> dict:
    """Run the CUDA probe in a container with a stage's settings; its JSON, or {"error": ...}."""
    from docker.errors import APIError

    api = client.api
    user = f"{os.getuid()}:{os.getgid()}"
    command = ["python3", "-c", PROBE_SOURCE, "cuda"]
    spec = StageSpec(
        name=PROJECT, image=image, command=command, env={}, labels=LABELS, binds={}, user=user,
        timeout_s=int(timeout), gpu=GpuPlan(device_request=request, devices=",".join(uuids) or ("all" if request else "none"), uuids=uuids),
    )  # fmt: skip
    container_id = None
    try:
        host_config = api.create_host_config(
            device_requests=[request] if request is not None else None, init=True, **resources.host_options(spec)
        )
        container_id = api.create_container(
            image, command=command, environment=resources.environment(spec), labels=LABELS, user=user,
            host_config=host_config, name=f"mlci-gpu-smoke-{os.getpid()}-{abs(hash(uuids)) % 10**8}",
        )["Id"]  # fmt: skip
        api.start(container_id)
        status = api.wait(container_id, timeout=timeout).get("StatusCode", -1)
        logs = api.logs(container_id, stdout=True, stderr=True)[-MAX_LOG:].decode(errors="replace")
    except APIError as exc:
        return {"error": str(exc.explanation or exc)[:2000], "engine_error": True}
    except Exception as exc:  # the engine went away, or the wait timed out
        return {"error": f"the probe container did not finish ({type(exc).__name__}: {str(exc)[:300]})"}
    finally:
        if container_id is not None:
            with contextlib.suppress(Exception):
                api.remove_container(container_id, force=True)
    return parse_marker(logs, "MLCI-CUDA") or {"error": f"the probe exited {status}: {logs.strip()[-600:]}"}


def parse_marker(text: str, marker: str) -> dict | None:
    for line in reversed(text.splitlines()):
        if line.startswith(marker + " "):
            with contextlib.suppress(ValueError):
                value = json.loads(line[len(marker) + 1 :])
                return value if isinstance(value, dict) else None
    return None


# ---------------------------------------------------------------- a real `mlci run` stage
@dataclass
class StageOutcome:
    returncode: int | None
    limits: dict | None = None
    before: dict | None = None
    after: dict | None = None
    reload: str | None = None  # what the reload hook said; None when it was not called
    log_tail: str = ""
    error: str = ""
    extra: dict = field(default_factory=dict)


def _scratch_repo(root: Path, image: str, gpus: bool) -> None:
    project = root / "projects" / PROJECT
    project.mkdir(parents=True)
    (root / "mlci.yaml").write_text(yaml.safe_dump({"version": 1, "name": PROJECT, "build": {"base_image": image}}))
    stage = {"name": STAGE, "run": f"python3 probe.py stage{' cuda' if gpus else ''}"}
    (project / "project.yaml").write_text(
        yaml.safe_dump({"gpus": "all" if gpus else "none", "timeout": "15m", "stages": [stage]})
    )
    (project / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nWORKDIR /smoke\nCOPY probe.py .\n")
    (project / "probe.py").write_text(PROBE_SOURCE)


def run_stage(
    image: str,
    *,
    gpus: bool,
    between: Callable[[], str] | None,
    timeout: float,
    remove_image: Callable[[str], None],
) -> StageOutcome:
    """`mlci run` of a one-stage project in a scratch monorepo (its own cache, records and
    artifacts, removed afterwards, as is the image it builds). With `gpus`, `between` runs while
    the stage waits between its two CUDA probes."""
    with tempfile.TemporaryDirectory(prefix="mlci-gpu-smoke-") as scratch:
        root = Path(scratch) / "repo"
        _scratch_repo(root, image, gpus)
        env = {k: v for k, v in os.environ.items() if k not in ("MLCI_RUNS_DIR", "MLCI_ROOT")}
        env.update(MLCI_ROOT=str(root), MLCI_CACHE_DIR=str(Path(scratch) / "cache"))
        command = [sys.executable, "-m", "mlci", "run", PROJECT, "--job-id", JOB, "--gpus", "all" if gpus else "none"]
        log_path = Path(scratch) / "run.log"
        out = root / ".mlci" / "runs" / PROJECT / JOB / "attempt-1" / "out"
        deadline = time.monotonic() + timeout
        outcome = StageOutcome(returncode=None)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                if gpus:
                    while not (out / "ready").exists() and process.poll() is None and time.monotonic() < deadline:
                        time.sleep(0.2)
                    if (out / "ready").exists():
                        outcome.reload = between() if between else None
                        (out / "go").touch()
                outcome.returncode = process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                outcome.error = f"mlci run did not finish within {timeout:g} s"
                process.send_signal(signal.SIGTERM)  # mlci stops and removes its container
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=30)
                if process.poll() is None:
                    process.kill()
        text = log_path.read_bytes()[-MAX_LOG:].decode(errors="replace")
        outcome.log_tail = text[-2000:]
        outcome.limits = parse_marker(text, "MLCI-LIMITS")
        outcome.before = parse_marker(text, "MLCI-BEFORE")
        outcome.after = parse_marker(text, "MLCI-AFTER")
        _remove_built_image(root, remove_image)
    return outcome


def _remove_built_image(root: Path, remove_image: Callable[[str], None]) -> None:
    status = root / ".mlci" / "runs" / PROJECT / JOB / "status.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        tag = json.loads(status.read_text())["build"]["imageUri"]
        if tag:
            with contextlib.suppress(Exception):
                remove_image(tag)
