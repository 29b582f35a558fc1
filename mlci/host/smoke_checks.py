"""The GPU smoke check's verdicts that need no Docker: the driver, kernel module and libraries,
persistence, Fabric Manager, apt holds and unattended-upgrades, the inventory, and what the CUDA
probe reported (mlci/host/gpu_smoke.py runs them and the container checks)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from mlci.host import gpu_facts
from mlci.host.gpu_checks import TOOLKIT_FIX, nvml_fix
from mlci.host.gpu_facts import Host, Smi

PASS, FAIL, NA = "pass", "fail", "n/a"
DRIVER_FIX = "install the NVIDIA driver (ansible-playbook ansible/site.yml) and reboot"
REPROVISION = "run ansible-playbook ansible/site.yml again (the nvidia_driver role sets this up)"


@dataclass
class Result:
    name: str
    status: str  # pass | fail | n/a
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" — fix: {self.fix}" if self.fix and self.status == FAIL else ""
        return f"{self.status:<5} {self.name}: {self.detail}{fix}"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


# ---------------------------------------------------------------- host checks (no Docker)
def check_driver(smi: Smi, pci: gpu_facts.Pci, expect: int | None) -> Result:
    name = "driver"
    if not smi.installed:
        seen = f"; the PCI bus has {pci.gpus} NVIDIA GPU(s)" if pci.gpus else ""
        return Result(name, FAIL, f"nvidia-smi is not installed{seen}", DRIVER_FIX)
    if smi.error:
        return Result(name, FAIL, f"nvidia-smi failed (exit status {smi.returncode}): {smi.error}", nvml_fix(smi.error))
    if not smi.gpus:
        return Result(
            name, FAIL, "nvidia-smi lists no GPU", "see `nvidia-smi -L`, `lspci -d 10de:` and `dmesg | grep NVRM`"
        )
    models = ", ".join(f"{n} × {model}" for model, n in Counter(g.name for g in smi.gpus).items())
    detail = f"{len(smi.gpus)} GPU(s) ({models}), driver {smi.gpus[0].driver}"
    if expect is not None and len(smi.gpus) != expect:
        return Result(
            name,
            FAIL,
            f"{detail}, but {expect} expected",
            "find the missing GPU (`dmesg | grep NVRM`) or fix the count",
        )
    return Result(name, PASS, detail)


def check_versions(module: str | None, proc_present: bool, userspace: dict[str, str], smi: Smi) -> Result:
    name = "kernel module = user-space driver"
    if not proc_present:
        return Result(
            name,
            FAIL,
            "the NVIDIA kernel module is not loaded (no /proc/driver/nvidia/version)",
            "reboot after installing the driver; with Secure Boot on see `sudo dmesg | grep -i nvidia`",
        )
    if module is None:
        return Result(
            name, FAIL, "/proc/driver/nvidia/version does not name a version", "see `cat /proc/driver/nvidia/version`"
        )
    # NVML names its own (user-space) version in the mismatch message: "NVML library version: 580.95"
    nvml = re.search(r"NVML library version:\s*([0-9]+\.[0-9]+(?:\.[0-9]+)?)", smi.error)
    if nvml:
        userspace = {**userspace, "NVML": nvml.group(1)}
    if not userspace:
        return Result(
            name, NA, f"kernel module {module}; no libnvidia-ml.so.* or libcuda.so.* found in /usr/lib to compare"
        )
    parts = ", ".join(f"{lib} {version}" for lib, version in sorted(userspace.items()))
    same = all(module == v or module.startswith(v + ".") for v in userspace.values())
    if same and "version mismatch" not in smi.error:
        return Result(name, PASS, f"kernel module {module}, {parts}")
    return Result(
        name,
        FAIL,
        f"kernel module {module}, but {parts}",
        "the loaded module is not the installed driver's: reboot (ansible/gpu-maintenance.yml drains first); on Ubuntu"
        " the running kernel's linux-modules-nvidia-<branch>-server package must carry the same version"
        " (`apt-cache policy linux-modules-nvidia-*-$(uname -r)`)",
    )


def check_persistence(smi: Smi) -> Result:
    name = "persistence mode"
    if not smi.gpus:
        return Result(name, NA, "skipped: nvidia-smi lists no GPU")
    off = [str(g.index) for g in smi.gpus if g.persistence != "Enabled"]
    if off:
        return Result(
            name,
            FAIL,
            f"off on GPU {','.join(off)}",
            "sudo systemctl enable --now nvidia-persistenced, without --no-persistence-mode (the nvidia_driver role does it)",
        )
    return Result(name, PASS, f"on for all {len(smi.gpus)} GPU(s)")


def check_fabric_manager(host: Host, pci: gpu_facts.Pci, driver: str | None) -> Result:
    name = "fabric manager"
    if not pci.nvswitches:
        return Result(name, NA, "no NVSwitch on this host (no NVIDIA PCI function of class 0680): not needed")
    fix = (
        "install nvidia-fabricmanager-<branch> (and libnvidia-nscq-<branch>) at exactly the driver's version and"
        " `sudo systemctl enable --now nvidia-fabricmanager`; without it every CUDA call fails with error 802"
    )
    state = host.run(["systemctl", "is-active", "nvidia-fabricmanager"]).stdout.strip() or "unknown"
    version = gpu_facts.fabric_manager_version(host.run(["nv-fabricmanager", "--version"]).text)
    detail = f"{pci.nvswitches} NVSwitch(es); nvidia-fabricmanager {state}, version {version or 'unknown'}"
    if state != "active" or version is None:
        return Result(name, FAIL, detail, fix)
    if driver and version != driver:
        return Result(name, FAIL, f"{detail}, driver {driver}", "move Fabric Manager to the driver's version: " + fix)
    return Result(name, PASS, f"{detail} (the driver's)")


def _managed(host: Host) -> bool:
    """Does mlci's nvidia_driver role manage this driver? It writes this file where it does."""
    return host.read(gpu_facts.MLCI_APT_BLACKLIST) is not None


def check_holds(host: Host, packages: list[gpu_facts.Package] | None) -> Result:
    name = "apt holds"
    if packages is None:
        return Result(name, NA, "no dpkg: not a Debian or Ubuntu host")
    driver = gpu_facts.driver_packages(packages)
    if not driver:
        return Result(
            name, NA, "no NVIDIA driver package installed by apt (e.g. NVIDIA's .run installer): nothing to hold"
        )
    loose = [p.name for p in driver if not p.held]
    if not loose:
        return Result(name, PASS, f"all {len(driver)} driver and toolkit packages held")
    listed = ", ".join(loose[:8]) + (f" (+{len(loose) - 8} more)" if len(loose) > 8 else "")
    if not _managed(host):
        return Result(
            name, NA, f"mlci does not manage this driver (no {gpu_facts.MLCI_APT_BLACKLIST}); not held: {listed}"
        )
    return Result(name, FAIL, f"not held: {listed}", f"sudo apt-mark hold {' '.join(loose)}, or {REPROVISION}")


def check_unattended(host: Host, packages: list[gpu_facts.Package] | None) -> Result:
    name = "unattended-upgrades blacklist"
    if packages is None:
        return Result(name, NA, "no dpkg: not a Debian or Ubuntu host")
    if not any(p.name == "unattended-upgrades" and p.installed for p in packages):
        return Result(name, NA, "unattended-upgrades is not installed: nothing upgrades the driver behind your back")
    driver = gpu_facts.driver_packages(packages)
    if not driver:
        return Result(name, NA, "no NVIDIA driver package installed by apt")
    blacklist = gpu_facts.apt_blacklist(host) or []
    open_ = [p.name for p in driver if not gpu_facts.blacklisted(p.name, blacklist)]
    if not open_:
        return Result(
            name, PASS, f"all {len(driver)} driver and toolkit packages blacklisted ({len(blacklist)} entries)"
        )
    listed = ", ".join(open_[:8]) + (f" (+{len(open_) - 8} more)" if len(open_) > 8 else "")
    if not _managed(host):
        return Result(name, NA, f"mlci does not manage this driver; unattended-upgrades may upgrade: {listed}")
    return Result(
        name,
        FAIL,
        f"unattended-upgrades may upgrade: {listed}",
        f"add them to Unattended-Upgrade::Package-Blacklist in {gpu_facts.MLCI_APT_BLACKLIST}, or {REPROVISION}",
    )


def check_inventory(inventory: gpu_facts.Inventory | None, smi: Smi, path: str) -> Result:
    name = "gpus.json"
    if inventory is None:
        return Result(name, NA, f"no {path}: not provisioned by site.yml (mlci run asks nvidia-smi instead)")
    if inventory.error:
        return Result(name, FAIL, inventory.error, "run ansible site.yml again (nvidia_gpu_inventory writes it)")
    if not smi.gpus:
        return Result(name, NA, "skipped: nvidia-smi lists no GPU to compare with")
    seen = tuple((g.index, g.uuid) for g in smi.gpus)
    if seen == inventory.gpus:
        return Result(name, PASS, f"{len(seen)} GPU(s), same indexes and UUIDs as nvidia-smi")
    return Result(
        name,
        FAIL,
        f"nvidia-smi lists {_pairs(seen)}, {path} has {_pairs(inventory.gpus)}",
        "a GPU was added, removed or reordered since provisioning: run ansible site.yml again (leases map to GPUs"
        " by that file)",
    )


def _pairs(gpus: tuple[tuple[int, str], ...]) -> str:
    return ", ".join(f"{i}={u}" for i, u in gpus) or "none"


# ---------------------------------------------------------------- interpreting the CUDA probe
def cuda_verdict(probe: dict, expected_uuids: list[str] | None = None) -> tuple[bool, str]:
    """(ok, what happened) for one MLCI-CUDA result; with expected_uuids, CUDA must see exactly those."""
    if probe.get("error"):
        return False, str(probe["error"])
    init = probe.get("init")
    if init != 0:
        return False, f"cuInit returned {init} {probe.get('init_name', '')}".rstrip()
    devices = probe.get("devices") or []
    if not devices:
        return False, "cuInit succeeded but CUDA sees no device"
    for d in devices:
        if d.get("ctx") != 0:
            return (
                False,
                f"cuCtxCreate on device {d.get('ordinal')} returned {d.get('ctx')} {d.get('ctx_name', '')}".rstrip(),
            )
        if d.get("alloc") != 0:
            return (
                False,
                f"cuMemAlloc on device {d.get('ordinal')} returned {d.get('alloc')} {d.get('alloc_name', '')}".rstrip(),
            )
    uuids = [d.get("uuid") for d in devices]
    if expected_uuids is not None and sorted(uuids) != sorted(expected_uuids):
        return False, f"CUDA sees {', '.join(map(str, uuids))}, expected {', '.join(expected_uuids)}"
    return True, f"cuInit, cuCtxCreate and a 64 MiB cuMemAlloc succeeded on {len(devices)} device(s)"


def cuda_fix(text: str) -> str:
    if "802" in text or "SYSTEM_NOT_READY" in text:
        return (
            "NVSwitch systems need nvidia-fabricmanager running at the driver's version (see the fabric manager line)"
        )
    if "libcuda.so.1" in text:
        return "the NVIDIA runtime did not mount the driver's libraries: " + TOOLKIT_FIX
    if "python3" in text and "not found" in text:
        return "the image has no python3: pass --image with a local image that has it (mlci's base image does)"
    return "see `dmesg | grep NVRM` and the container toolkit line"
