"""`mlci doctor`'s GPU checks: the driver as nvidia-smi reports it (with NVML's own message),
kernel module vs user-space library, persistence mode, MIG, the GPU count mlci.yaml declares,
and a real GPU container from the local base image, run as the stage user. Each failure says
how to fix it."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci import secrets
from mlci.host.checks import Check

# docker-py (with requests, ~0.3 s) is imported in the functions that talk to the engine, so that
# commands which never do (`mlci --help`, validate, status) do not pay for it; tests/test_layout.py checks.

QUERY = "index,uuid,name,driver_version,persistence_mode,mig.mode.current"
PROC_VERSION = Path("/proc/driver/nvidia/version")
LIBRARY_GLOBS = ("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.*.*", "/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.*.*",
                 "/usr/lib64/libnvidia-ml.so.*.*", "/usr/lib/libnvidia-ml.so.*.*")  # fmt: skip
TOOLKIT_FIX = (
    "install the NVIDIA Container Toolkit, run `sudo nvidia-ctk runtime configure --runtime=docker`, then restart"
    " Docker after installing the toolkit (`sudo systemctl restart docker`); the Ansible role nvidia_container_toolkit"
    " does all three"
)
MAX_OUTPUT = 4000


@dataclass
class Smi:
    """What nvidia-smi said: the GPUs, or the failure with NVML's message."""

    installed: bool
    gpus: list[dict[str, str]] = field(default_factory=list)
    error: str = ""  # NVML's message (first lines of the output) when nvidia-smi failed
    exit_code: int = 0


def query_smi(run: Callable[..., Any] = subprocess.run) -> Smi:
    if shutil.which("nvidia-smi") is None:
        return Smi(installed=False)
    try:
        done = run(
            ["nvidia-smi", f"--query-gpu={QUERY}", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Smi(installed=True, error=str(exc), exit_code=-1)
    if done.returncode != 0:
        text = (done.stdout + "\n" + done.stderr)[:MAX_OUTPUT]
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return Smi(installed=True, error="; ".join(lines[:3]) or "no output", exit_code=done.returncode)
    names = QUERY.split(",")
    gpus = []
    for line in done.stdout.splitlines()[:64]:
        values = [v.strip() for v in line.split(",")]
        if len(values) == len(names):
            gpus.append(dict(zip(names, values, strict=True)))
    return Smi(installed=True, gpus=gpus)


def nvml_fix(message: str) -> str:
    """The fix for nvidia-smi's failure, from NVML's message."""
    if "version mismatch" in message:
        return (
            "the loaded kernel module is older than the driver's libraries (the driver was upgraded without a"
            " reboot): reboot, or run `ansible-playbook ansible/gpu-maintenance.yml`, which drains the host first"
        )
    if "couldn't communicate with the NVIDIA driver" in message or "No devices were found" in message:
        return (
            "the NVIDIA kernel module is not loaded: reboot after installing the driver; with Secure Boot on"
            " (`mokutil --sb-state`) see `sudo dmesg | grep -i nvidia` for a rejected module"
        )
    if "Insufficient Permissions" in message:
        return "run as a user allowed to open /dev/nvidia* (or as root)"
    return "install the NVIDIA driver (ansible-playbook ansible/site.yml) and reboot"


def module_version(path: Path = PROC_VERSION) -> str | None:
    """The loaded kernel module's version, from /proc/driver/nvidia/version."""
    try:
        text = path.read_text()[:MAX_OUTPUT]
    except OSError:
        return None
    found = re.search(r"Kernel Module(?: for [\w-]+)?\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)", text)
    return found.group(1) if found else None


def library_version(patterns: tuple[str, ...] = LIBRARY_GLOBS) -> str | None:
    """The user-space driver's version, from libnvidia-ml.so.<version>'s name."""
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            found = re.fullmatch(r"libnvidia-ml\.so\.([0-9]+\.[0-9]+(?:\.[0-9]+)?)", os.path.basename(path))
            if found:
                return found.group(1)
    return None


def gpu_checks(
    smi: Smi,
    *,
    strict: bool,
    expected: int | None,
    module: str | None,
    library: str | None,
    recorded: list[str] | None = None,
) -> list[Check]:
    if not smi.installed:
        fix = "install the NVIDIA driver (ansible-playbook ansible/site.yml); `nvidia-smi -L` must list the GPUs"
        return [Check("GPUs", False, "nvidia-smi not found", fix, required=strict or bool(expected))]
    if smi.error:
        detail = f"nvidia-smi failed (exit status {smi.exit_code}): {smi.error}"
        return [Check("GPUs", False, detail, nvml_fix(smi.error), required=True)]
    checks = []
    count = len(smi.gpus)
    first = f"{smi.gpus[0]['name']}" if smi.gpus else "none"
    if expected is not None and count != expected:
        checks.append(
            Check(
                "GPUs",
                False,
                f"nvidia-smi lists {count} ({first}) but mlci.yaml declares {expected} for this host",
                "fix hosts[].gpus in mlci.yaml and `mlci render`, or find the missing GPU (`sudo dmesg | grep -i nvrm`)",
            )
        )
    elif count == 0:
        checks.append(
            Check("GPUs", False, "none visible", "check `nvidia-smi -L` and `lspci -d 10de:`", required=strict)
        )
    else:
        checks.append(Check("GPUs", True, f"{count} visible: {first}{' …' if count > 1 else ''}", required=strict))
    if module and library:
        checks.append(
            Check(
                "driver version",
                module == library,
                f"kernel module {module}, library {library}",
                "the module loaded at boot is not the installed driver's: reboot (or ansible/gpu-maintenance.yml)",
            )
        )
    off = [g["index"] for g in smi.gpus if g.get("persistence_mode") != "Enabled"]
    if smi.gpus:
        checks.append(
            Check(
                "persistence mode",
                not off,
                "on for every GPU" if not off else f"off for GPU {','.join(off)}",
                "sudo systemctl enable --now nvidia-persistenced without --no-persistence-mode"
                " (the Ansible role nvidia_driver sets this up)",
                required=strict,
            )
        )
        if recorded is not None:
            seen = [g["uuid"] for g in smi.gpus]
            checks.append(
                Check(
                    "GPU inventory",
                    seen == recorded,
                    "matches /etc/mlci/gpus.json"
                    if seen == recorded
                    else f"nvidia-smi lists {seen}, Ansible recorded {recorded}",
                    "a GPU was added, removed or reordered since provisioning: run ansible site.yml again"
                    " (leases are mapped to GPUs by that file)",
                )
            )
        mig = [g["index"] for g in smi.gpus if g.get("mig.mode.current") == "Enabled"]
        checks.append(
            Check(
                "MIG",
                not mig,
                "off" if not mig else f"enabled on GPU {','.join(mig)}",
                "mlci leases whole GPUs: `sudo nvidia-smi -i N -mig 0`, then reset the GPU or reboot",
            )
        )
    return checks


def container_check(client: Any, image: str, user: str, *, expected: int | None, strict: bool) -> Check:
    """A real GPU container from the local base image (never pulled), as the stage user."""
    import docker.errors
    from docker.types import DeviceRequest

    name = "GPU container"
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return Check(name, None, f"skipped: {image} is not on this host (see the base image check)")
    container = None
    try:
        container = client.containers.create(
            image,
            ["nvidia-smi", "-L"],
            device_requests=[DeviceRequest(count=-1, capabilities=[["gpu"]])],
            environment={"NVIDIA_DRIVER_CAPABILITIES": "compute,utility"},
            user=user,
            labels={"mlci.doctor": "1"},
        )
        container.start()
        status = container.wait(timeout=120).get("StatusCode", -1)
        out = container.logs(stdout=True, stderr=True)[:MAX_OUTPUT]
    except docker.errors.APIError as exc:
        text = secrets.redact(str(exc.explanation or exc))[:MAX_OUTPUT]
        fix = TOOLKIT_FIX if "could not select device driver" in text or "nvidia" in text else "see `docker info`"
        return Check(name, False, f"a container with --gpus all did not start ({text})", fix, required=strict)
    except Exception as exc:  # the engine went away or the wait timed out
        return Check(name, False, f"the GPU container did not finish ({type(exc).__name__})", "see `docker info`")
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
    if status != 0:
        text = secrets.redact(out.decode(errors="replace")).strip()
        fix = (
            "GPU access was revoked (a `systemctl daemon-reload` with the systemd cgroup driver): create the /dev/char"
            " symlinks (`sudo nvidia-ctk system create-dev-char-symlinks --create-all`) or use CDI"
            " (ansible README, nvidia_container_toolkit_mode)"
            if "Unknown Error" in text
            else nvml_fix(text)
        )
        return Check(name, False, f"nvidia-smi in {image} exited {status}: {text}", fix, required=strict)
    lines = [line for line in out.decode(errors="replace").splitlines() if line.startswith("GPU ")]
    if expected is not None and len(lines) != expected:
        return Check(
            name,
            False,
            f"a container sees {len(lines)} GPU(s), mlci.yaml declares {expected}",
            "check NVIDIA_VISIBLE_DEVICES in daemon.json's runtime and `nvidia-smi -L` on the host",
            required=strict,
        )
    return Check(name, bool(lines), f"{len(lines)} GPU(s) in {image} as {user}", "see `nvidia-smi -L`", required=strict)
