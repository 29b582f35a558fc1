"""`mlci doctor --gpu-smoke`: a GPU host's smoke check, one line per check (pass, fail or n/a with
the reason), in well under ten minutes on any machine with an NVIDIA driver.

Checks, in order: the driver answers; the loaded kernel module is the installed user-space
driver's version; persistence mode; Fabric Manager where NVSwitches are; the apt holds and the
unattended-upgrades blacklist the nvidia_driver role sets up; Docker (cgroup driver, runtimes);
the Container Toolkit's mode (legacy runtime, or CDI with a spec naming every GPU);
/etc/mlci/gpus.json against nvidia-smi by UUID; one container per GPU, requested by UUID as
stages are, sees exactly that GPU; CUDA initialises, creates a context and allocates memory in
it through libcuda (no CUDA toolkit in the image); a real `mlci run` stage gets the shm size,
memlock and stack limits and MLCI_GPU_UUIDS it should; and its GPUs survive a
`systemctl daemon-reload` made while it runs.

Where Docker or the toolkit are missing, the checks that need them are n/a and say why, unless
the host was provisioned by site.yml (/etc/mlci/gpus.json exists): there they must be present.

The daemon-reload is safe by default: it is skipped (n/a, naming them) while other running
containers hold GPUs that a reload would revoke (granted by the runtime hook alone, under the
systemd cgroup driver); `--allow-disruptive` makes it anyway. CDI containers and containers with
explicit /dev/nvidiaN nodes keep their GPUs across a reload, so they never block it.

Exit status: 0 every check passed or was n/a; 1 a check failed; 3 no NVIDIA GPU on this host
(no nvidia-smi, no loaded module, no NVIDIA display controller on the PCI bus, no gpus.json):
nothing was checked. With `--expect-gpus N` a host without GPUs fails (1) instead.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlci.host import gpu_docker, gpu_facts
from mlci.host.gpu_checks import TOOLKIT_FIX
from mlci.host.gpu_facts import Host, Smi
from mlci.host.smoke_checks import (
    DRIVER_FIX,
    FAIL,
    NA,
    PASS,
    Result,
    check_driver,
    check_fabric_manager,
    check_holds,
    check_inventory,
    check_persistence,
    check_unattended,
    check_versions,
    cuda_fix,
    cuda_verdict,
)
from mlci.runner import resources
from mlci.runner.gpus import INVENTORY_FILE, Gpu
from mlci.runner.stage_spec import DEFAULT_STACK_BYTES

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_GPU = 3
BUDGET_S = 540  # the whole check stays under ten minutes even when containers hang


@dataclass
class Options:
    image: str
    allow_disruptive: bool = False
    expect_gpus: int | None = None
    inventory_path: str = field(default_factory=lambda: os.environ.get("MLCI_GPU_INVENTORY", str(INVENTORY_FILE)))


@dataclass
class Report:
    host: str
    results: list[Result]
    gpus: list[gpu_facts.SmiGpu]
    no_gpu: bool = False

    @property
    def exit_code(self) -> int:
        if any(r.status == FAIL for r in self.results):
            return EXIT_FAILED
        return EXIT_NO_GPU if self.no_gpu else EXIT_OK

    def lines(self) -> list[str]:
        counts = Counter(r.status for r in self.results)
        summary = f"{counts[PASS]} pass, {counts[FAIL]} fail, {counts[NA]} n/a"
        if self.no_gpu and not counts[FAIL]:
            summary = f"no NVIDIA GPU on this host: nothing to check (exit status {EXIT_NO_GPU})"
        return [
            f"mlci GPU smoke check on {self.host}",
            *(r.line() for r in self.results),
            f"result: {summary}",
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "exitCode": self.exit_code,
            "noGpu": self.no_gpu,
            "gpus": [{"index": g.index, "uuid": g.uuid, "name": g.name, "driver": g.driver} for g in self.gpus],
            "checks": [r.as_dict() for r in self.results],
        }


# ---------------------------------------------------------------- the whole check
@dataclass
class Docker:
    """What the Docker side found before any container ran."""

    client: Any = None
    engine: gpu_docker.Engine | None = None
    skip: str = ""  # why the container checks are n/a (or failed)
    failed: bool = False  # the skip is a failure on this host


def _docker(host: Host, connect: Callable[[], Any], provisioned: bool) -> tuple[Docker, Result]:
    name = "docker"
    present = host.which("docker") or host.exists("/var/run/docker.sock") or os.environ.get("DOCKER_HOST")
    if not present:
        why = "Docker is not installed (no docker command, no /var/run/docker.sock)"
        status = FAIL if provisioned else NA
        return Docker(skip=why, failed=provisioned), Result(name, status, why, "ansible site.yml installs it")
    try:
        client = connect()
        engine = gpu_docker.engine_facts(client.version(), client.info())
    except Exception as exc:
        why = f"Docker is not reachable ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})"
        fix = "start it (`sudo systemctl start docker`), or run as root / a member of the docker group"
        return Docker(skip=why, failed=True), Result(name, FAIL, why, fix)
    return Docker(client=client, engine=engine), Result(name, PASS, engine.describe())


def _toolkit(host: Host, docker: Docker, cdi: bool, smi: Smi, provisioned: bool) -> Result:
    name = "container toolkit"
    if docker.engine is None:
        return Result(name, NA, f"skipped: {docker.skip}")
    engine = docker.engine
    if cdi:
        if not engine.cdi_spec_dirs:
            docker.skip, docker.failed = "CDI is not enabled in Docker", True
            fix = "Docker >= 25 with features.cdi (`sudo nvidia-ctk runtime configure --runtime=docker --cdi.enabled`)"
            return Result(name, FAIL, "gpus.json says CDI, but Docker has CDI off", fix)
        specs = gpu_facts.cdi_devices(host, engine.cdi_spec_dirs)
        names = {n for devices in specs.values() for n in devices}
        missing = [g.uuid for g in smi.gpus if g.uuid not in names]
        if not specs or missing:
            docker.skip, docker.failed = "the CDI spec does not name every GPU", True
            return Result(
                name,
                FAIL,
                f"CDI mode; specs {', '.join(specs) or 'none'} lack {', '.join(missing) or 'nvidia.com/gpu'}",
                "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml (mlci-nvidia-cdi-refresh does it at boot)",
            )
        return Result(name, PASS, f"CDI mode: {', '.join(specs)} names all {len(smi.gpus)} GPU(s) by UUID")
    if "nvidia" in engine.runtimes:
        hook = " (GPUs granted by the hook alone are dropped at a daemon-reload: see that line)"
        note = hook if engine.cgroup_driver == "systemd" else ""
        return Result(name, PASS, f"legacy mode: the nvidia runtime is registered with Docker{note}")
    installed = host.which("nvidia-ctk") or host.which("nvidia-container-runtime-hook")
    why = "the NVIDIA Container Toolkit is " + (
        "installed but not registered with Docker" if installed else "not installed"
    )
    docker.skip, docker.failed = why, provisioned or bool(installed)
    return Result(name, FAIL if docker.failed else NA, why, TOOLKIT_FIX)


def _image_present(docker: Docker, image: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        docker.client.images.get(image)
    except ImageNotFound:
        docker.skip = f"the image {image} is not on this host (never pulled)"
        docker.failed = True
        return False
    return True


def _container_checks(docker: Docker, smi: Smi, image: str, cdi: bool, deadline: float) -> list[Result]:
    by_uuid, cuda = "container by UUID", "CUDA in a container"
    if docker.client is None or docker.skip or not smi.gpus or not _image_present(docker, image):
        why = docker.skip or "nvidia-smi lists no GPU"
        status = FAIL if docker.failed else NA
        fix = f"build it: `mlci base-image build --tag {image}`, or pass --image" if "never pulled" in why else ""
        return [Result(by_uuid, status, f"skipped: {why}", fix), Result(cuda, status, f"skipped: {why}", fix)]
    wrong, broken, fine = [], [], []
    for gpu in smi.gpus:
        request = gpu_docker.gpu_request(Gpu(gpu.index, gpu.uuid), cdi=cdi)
        timeout = max(30.0, min(240.0, deadline - time.monotonic()))
        probe = gpu_docker.probe_container(docker.client, image, request, (gpu.uuid,), timeout=timeout)
        ok, detail = cuda_verdict(probe)
        seen = [d.get("uuid") for d in probe.get("devices") or []]
        if probe.get("error") or probe.get("init") != 0:
            broken.append((gpu, detail))
        elif seen != [gpu.uuid] or len(probe.get("nodes") or []) != 1:
            wrong.append(f"GPU {gpu.index} ({gpu.uuid}): CUDA sees {seen}, device nodes {probe.get('nodes')}")
        elif not ok:
            broken.append((gpu, detail))
        else:
            fine.append(gpu)
    how = "CDI nvidia.com/gpu=<UUID>" if cdi else "--gpus device=<UUID>"
    first_broken = f"GPU {broken[0][0].index}: {broken[0][1]}" if broken else ""
    if broken and not wrong and len(broken) == len(smi.gpus):
        uuid_result = Result(by_uuid, NA, f"skipped: no container could initialise CUDA ({first_broken})")
    elif wrong:
        uuid_result = Result(by_uuid, FAIL, "; ".join(wrong), "check the device request mode (gpus.json `requests`)")
    else:
        uuid_result = Result(
            by_uuid, PASS, f"each of {len(fine)} GPU(s), requested with {how}, is the only one its container sees"
        )
    if broken:
        cuda_result = Result(
            cuda, FAIL, f"{len(broken)} of {len(smi.gpus)} GPU(s) failed; {first_broken}", cuda_fix(first_broken)
        )
    else:
        cuda_result = Result(
            cuda, PASS, f"on every GPU in {image}: cuInit, cuCtxCreate and a 64 MiB cuMemAlloc through libcuda"
        )
    return [uuid_result, cuda_result]


def _reload_command(host: Host) -> list[str] | None:
    if host.is_root():
        return ["systemctl", "daemon-reload"]
    if host.which("sudo") and host.run(["sudo", "-n", "true"]).returncode == 0:
        return ["sudo", "-n", "systemctl", "daemon-reload"]
    return None


def reload_plan(host: Host, others: list[str], allow_disruptive: bool) -> tuple[list[str] | None, str]:
    """The command that reloads systemd, or None with the reason it is skipped."""
    if not host.exists("/run/systemd/system"):
        return None, "systemd is not running here: nothing reloads it"
    command = _reload_command(host)
    if command is None:
        return None, "systemctl daemon-reload needs root: run the smoke check with sudo"
    if others and not allow_disruptive:
        listed = ", ".join(others[:5]) + (f" (+{len(others) - 5} more)" if len(others) > 5 else "")
        return None, (
            f"a reload would revoke the GPUs of running container(s) {listed} (granted by the NVIDIA hook alone,"
            " systemd cgroup driver); rerun when they are done, or with --allow-disruptive"
        )
    return command, ""


def _stage_checks(host: Host, docker: Docker, smi: Smi, options: Options, deadline: float) -> list[Result]:
    limits_name, reload_name = "stage limits", "daemon-reload"
    if docker.client is None or docker.skip or not smi.gpus:
        why = docker.skip or "nvidia-smi lists no GPU"
        status = FAIL if docker.failed else NA
        return [Result(limits_name, status, f"skipped: {why}"), Result(reload_name, status, f"skipped: {why}")]
    others = gpu_docker.at_risk(gpu_docker.running_containers(docker.client), docker.engine)
    command, why_not = reload_plan(host, others, options.allow_disruptive)

    def between() -> str:
        if command is None:
            return ""
        ran = host.run(command, timeout=120)
        time.sleep(1)  # let systemd finish re-applying the units' cgroup settings
        return "" if ran.returncode == 0 else f"`{' '.join(command)}` failed: {ran.text[:300]}"

    outcome = gpu_docker.run_stage(
        options.image,
        gpus=True,
        between=between,
        timeout=max(60.0, deadline - time.monotonic()),
        remove_image=lambda tag: docker.client.images.remove(tag),
    )
    expected = [g.uuid for g in smi.gpus]
    limits = stage_limits_result(outcome, expected)
    return [limits, reload_result(outcome, command, why_not, others)]


def stage_limits_result(outcome: gpu_docker.StageOutcome, expected_uuids: list[str] | None) -> Result:
    """What a GPU stage (expected_uuids: the host's GPUs) or a CPU stage (None) must see."""
    name = "stage limits"
    limits = outcome.limits
    if limits is None:
        why = outcome.error or f"mlci run exited {outcome.returncode}"
        return Result(
            name,
            FAIL,
            f"the stage did not report its limits ({why}): …{outcome.log_tail[-600:]}",
            "see the output above",
        )
    want = {
        "shm_bytes": resources.DEFAULT_SHM_SIZE,
        "stack": DEFAULT_STACK_BYTES,
        "memlock": "unlimited" if expected_uuids is not None else limits.get("memlock"),
        "cuda_device_order": "PCI_BUS_ID",
        "gpu_uuids": ",".join(expected_uuids) if expected_uuids is not None else None,
    }
    wrong = [f"{key} {limits.get(key)!r} (want {value!r})" for key, value in want.items() if limits.get(key) != value]
    if wrong:
        return Result(name, FAIL, "; ".join(wrong), "see mlci/runner/resources.py and the engine's ulimit defaults")
    shm = limits["shm_bytes"] / 1024**3
    uuids = f", MLCI_GPU_UUIDS={want['gpu_uuids']}" if expected_uuids is not None else ""
    return Result(
        name, PASS, f"/dev/shm {shm:g} GiB, memlock {limits['memlock']}, stack {limits['stack'] // 1024**2} MiB{uuids}"
    )


def reload_result(
    outcome: gpu_docker.StageOutcome, command: list[str] | None, why_not: str, others: list[str]
) -> Result:
    name = "daemon-reload"
    if outcome.before is None:
        return Result(name, FAIL, f"the stage did not run its CUDA probe ({outcome.error or 'see stage limits'})")
    ok_before, before = cuda_verdict(outcome.before)
    if not ok_before:
        return Result(name, NA, f"skipped: CUDA failed in the stage already before any reload ({before})")
    if outcome.reload is None:
        return Result(name, FAIL, f"the stage never got to the reload ({outcome.error or 'see stage limits'})")
    if command is None:
        return Result(name, NA, f"skipped: {why_not}")
    if outcome.reload:
        return Result(name, FAIL, outcome.reload, "run the smoke check as root")
    if outcome.after is None:
        return Result(
            name, FAIL, f"the stage's second CUDA probe did not report ({outcome.error or 'mlci run failed'})"
        )
    ok_after, after = cuda_verdict(outcome.after)
    warned = f"; other GPU containers that may have lost their GPUs: {', '.join(others)}" if others else ""
    if ok_after:
        return Result(name, PASS, f"a running mlci stage kept its GPUs across `systemctl daemon-reload`{warned}")
    return Result(
        name,
        FAIL,
        f"after `systemctl daemon-reload` a running stage lost its GPUs: {after}{warned}",
        "provision with nvidia_container_toolkit_mode cdi (Docker >= 25), or let mlci run add the GPUs' device nodes"
        " (legacy mode with the inventory's device nodes); NVIDIA documents no other fix but the cgroupfs driver",
    )


def run_smoke(host: Host, connect_docker: Callable[[], Any], options: Options) -> Report:
    deadline = time.monotonic() + BUDGET_S
    smi = gpu_facts.query_smi(host)
    proc = host.read(gpu_facts.PROC_VERSION)
    pci = gpu_facts.scan_pci(host)
    inventory = gpu_facts.read_inventory(host, options.inventory_path)
    name = socket.gethostname().split(".")[0]
    if not smi.installed and proc is None and not pci.gpus and inventory is None:
        why = "no NVIDIA GPU on this host (no nvidia-smi, no /proc/driver/nvidia/version, no NVIDIA GPU on the PCI bus, no gpus.json)"
        if options.expect_gpus:
            return Report(name, [Result("driver", FAIL, f"{why}, but {options.expect_gpus} expected", DRIVER_FIX)], [])
        return Report(name, [Result("driver", NA, why)], [], no_gpu=True)
    provisioned = inventory is not None
    cdi = inventory is not None and inventory.requests == "cdi"
    driver = gpu_facts.module_version(proc) or (smi.gpus[0].driver if smi.gpus else None)
    packages = gpu_facts.installed_packages(host)
    results = [
        check_driver(smi, pci, options.expect_gpus),
        check_versions(gpu_facts.module_version(proc), proc is not None, gpu_facts.userspace_versions(host), smi),
        check_persistence(smi),
        check_fabric_manager(host, pci, driver),
        check_holds(host, packages),
        check_unattended(host, packages),
    ]
    docker, docker_result = _docker(host, connect_docker, provisioned)
    results += [
        docker_result,
        _toolkit(host, docker, cdi, smi, provisioned),
        check_inventory(inventory, smi, options.inventory_path),
    ]
    results += _container_checks(docker, smi, options.image, cdi, deadline)
    results += _stage_checks(host, docker, smi, options, deadline)
    return Report(name, results, list(smi.gpus))
