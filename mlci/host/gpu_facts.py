"""What a GPU host says about itself, read through one small interface (`Host`) so that the smoke
check's logic can be tested with the real texts of nvidia-smi, /proc/driver/nvidia/version, sysfs,
dpkg-query, apt-config and nv-fabricmanager, captured from real hosts.

Every reader is bounded (output and file sizes) and never raises for a missing tool or file: that
is a fact about the host, reported by the check that needs it.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol

MAX_TEXT = 1 << 20
SMI_QUERY = "index,uuid,name,driver_version,persistence_mode,pci.bus_id"
PROC_VERSION = "/proc/driver/nvidia/version"
PCI_DEVICES = "/sys/bus/pci/devices"
NVIDIA_VENDOR = "0x10de"
# PCI class codes (sysfs `class`, 24 bits): display controllers 0x0300xx (VGA) and 0x0302xx (3D)
# are GPUs; NVIDIA functions of class 0x0680xx ("other bridge") are NVSwitches, as NCCL tells them
# (src/graph/topo.cc, kvDictPciClass: "0x068000" → NVS) and lspci shows them (`0680: 10de:22a3` on HGX H100).
GPU_CLASSES = ("0x0300", "0x0302")
NVSWITCH_CLASS = "0x0680"
USERSPACE_GLOBS = (
    "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.*.*",
    "/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.*.*",
    "/usr/lib64/libnvidia-ml.so.*.*",
    "/usr/lib/libnvidia-ml.so.*.*",
    "/usr/lib/x86_64-linux-gnu/libcuda.so.*.*",
    "/usr/lib/aarch64-linux-gnu/libcuda.so.*.*",
    "/usr/lib64/libcuda.so.*.*",
    "/usr/lib/libcuda.so.*.*",
)
# The installed packages the nvidia_driver and nvidia_container_toolkit roles hold (their
# nvidia_driver_hold_pattern): the driver, its libraries, modules and firmware, Fabric Manager, the toolkit.
DRIVER_PACKAGE = re.compile(r"^(nvidia-|libnvidia-|libcuda1$|firmware-nvidia-|linux-modules-nvidia-)")
# Written by the nvidia_driver role (tasks/hold.yml) where it manages the driver.
MLCI_APT_BLACKLIST = "/etc/apt/apt.conf.d/51mlci-nvidia-driver"
BLACKLIST_KEY = "Unattended-Upgrade::Package-Blacklist"


@dataclass(frozen=True)
class Ran:
    returncode: int  # 127: the program is not installed; 124: it timed out
    stdout: str
    stderr: str = ""

    @property
    def text(self) -> str:
        return (self.stdout + "\n" + self.stderr).strip()


class Host(Protocol):
    """The host as the smoke check sees it."""

    def run(self, argv: list[str], timeout: float = 30) -> Ran: ...
    def read(self, path: str) -> str | None: ...
    def glob(self, pattern: str) -> list[str]: ...
    def listdir(self, path: str) -> list[str]: ...
    def which(self, name: str) -> str | None: ...
    def exists(self, path: str) -> bool: ...
    def is_root(self) -> bool: ...


class RealHost:
    """This machine."""

    def run(self, argv: list[str], timeout: float = 30) -> Ran:
        if shutil.which(argv[0]) is None:
            return Ran(127, "", f"{argv[0]}: command not found")
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, errors="replace")
        except subprocess.TimeoutExpired:
            return Ran(124, "", f"{argv[0]} did not answer within {timeout:g} s")
        except OSError as exc:
            return Ran(126, "", str(exc))
        return Ran(done.returncode, done.stdout[:MAX_TEXT], done.stderr[:MAX_TEXT])

    def read(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read(MAX_TEXT)
        except OSError:
            return None

    def glob(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern))

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def is_root(self) -> bool:
        return os.geteuid() == 0


# ---------------------------------------------------------------- the driver
@dataclass(frozen=True)
class SmiGpu:
    index: int
    uuid: str
    name: str
    driver: str
    persistence: str  # Enabled | Disabled
    pci_bus_id: str


@dataclass(frozen=True)
class Smi:
    """nvidia-smi's answer: the GPUs, or why there are none (NVML's own message)."""

    installed: bool
    gpus: tuple[SmiGpu, ...] = ()
    error: str = ""
    returncode: int = 0


def query_smi(host: Host) -> Smi:
    ran = host.run(["nvidia-smi", f"--query-gpu={SMI_QUERY}", "--format=csv,noheader"], timeout=60)
    if ran.returncode == 127:
        return Smi(installed=False)
    if ran.returncode != 0:
        lines = [line.strip() for line in ran.text.splitlines() if line.strip()]
        return Smi(True, error="; ".join(lines[:3]) or "no output", returncode=ran.returncode)
    return Smi(True, tuple(parse_smi(ran.stdout)))


def parse_smi(text: str) -> list[SmiGpu]:
    """`--query-gpu=index,uuid,name,driver_version,persistence_mode,pci.bus_id --format=csv,noheader`
    lines; a name with a comma in it stays whole (the fields around it are fixed)."""
    gpus = []
    for line in text.splitlines()[:256]:
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6 or not fields[0].isdigit() or not re.fullmatch(r"GPU-[0-9a-fA-F-]{8,64}", fields[1]):
            continue
        gpus.append(SmiGpu(int(fields[0]), fields[1], ", ".join(fields[2:-3]), *fields[-3:]))
    return gpus


def module_version(text: str | None) -> str | None:
    """The loaded kernel module's version, from /proc/driver/nvidia/version (proprietary:
    `NVIDIA UNIX x86_64 Kernel Module  535.216.01 ...`, open: `NVIDIA UNIX Open Kernel Module for
    x86_64  580.95.05 ...`)."""
    found = re.search(r"Kernel Module(?: for [\w-]+)?\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)(?!\S)", text or "")
    return found.group(1) if found else None


def userspace_versions(host: Host) -> dict[str, str]:
    """library name → version, from the installed libnvidia-ml.so.<version> and libcuda.so.<version>."""
    found: dict[str, str] = {}
    for pattern in USERSPACE_GLOBS:
        for path in host.glob(pattern):
            match = re.fullmatch(r"(libnvidia-ml|libcuda)\.so\.([0-9]+\.[0-9]+(?:\.[0-9]+)?)", os.path.basename(path))
            if match:
                found.setdefault(match.group(1), match.group(2))
    return found


@dataclass(frozen=True)
class Pci:
    gpus: int
    nvswitches: int


def scan_pci(host: Host) -> Pci:
    gpus = switches = 0
    for address in host.listdir(PCI_DEVICES)[:4096]:
        if (host.read(f"{PCI_DEVICES}/{address}/vendor") or "").strip().lower() != NVIDIA_VENDOR:
            continue
        klass = (host.read(f"{PCI_DEVICES}/{address}/class") or "").strip().lower()
        gpus += klass.startswith(GPU_CLASSES)
        switches += klass.startswith(NVSWITCH_CLASS)
    return Pci(gpus, switches)


def fabric_manager_version(text: str) -> str | None:
    """`nv-fabricmanager --version`: `Fabric Manager version is : 535.161.08`."""
    found = re.search(r"Fabric Manager version is\s*:\s*([0-9]+\.[0-9]+(?:\.[0-9]+)?)", text)
    return found.group(1) if found else None


# ---------------------------------------------------------------- apt
@dataclass(frozen=True)
class Package:
    name: str
    installed: bool
    held: bool


def installed_packages(host: Host) -> list[Package] | None:
    """Every package dpkg knows, from `dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n'`
    (`ii ` installed, `hi ` installed and on hold, `rc ` removed with its configuration left);
    None where there is no dpkg."""
    ran = host.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Abbrev}\n"], timeout=60)
    if ran.returncode == 127:
        return None
    packages = []
    for line in ran.stdout.splitlines():
        name, _, status = line.partition(" ")
        if len(status) >= 2:
            packages.append(Package(name, installed=status[1] == "i", held=status[0] == "h"))
    return packages


def driver_packages(packages: list[Package]) -> list[Package]:
    return [p for p in packages if p.installed and DRIVER_PACKAGE.match(p.name)]


def apt_blacklist(host: Host) -> list[str] | None:
    """unattended-upgrades' Package-Blacklist as apt reads it (`apt-config dump`), None without apt.
    unattended-upgrades matches each entry as a Python regular expression with re.match
    (unattended-upgrade, is_pkgname_in_blacklist)."""
    ran = host.run(["apt-config", "dump", BLACKLIST_KEY])
    if ran.returncode == 127:
        return None
    prefix = f'{BLACKLIST_KEY}:: "'
    return [
        line[len(prefix) : -2] for line in ran.stdout.splitlines() if line.startswith(prefix) and line.endswith('";')
    ]


def blacklisted(name: str, blacklist: list[str]) -> bool:
    for entry in blacklist:
        try:
            if re.match(entry, name):
                return True
        except re.error:
            continue
    return False


# ---------------------------------------------------------------- mlci's own record
@dataclass(frozen=True)
class Inventory:
    """/etc/mlci/gpus.json, written by the nvidia_gpu_inventory role."""

    gpus: tuple[tuple[int, str], ...]  # (index, UUID)
    requests: str  # how mlci run asks for GPUs: legacy | cdi
    error: str = ""


def read_inventory(host: Host, path: str) -> Inventory | None:
    text = host.read(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
        gpus = tuple(sorted((int(g["index"]), str(g["uuid"])) for g in data["gpus"]))
        return Inventory(gpus, str(data.get("requests") or "legacy"))
    except (ValueError, KeyError, TypeError) as exc:
        return Inventory((), "legacy", error=f"{path} is not the inventory Ansible writes ({type(exc).__name__})")


# ---------------------------------------------------------------- CDI
DEFAULT_CDI_DIRS = ("/etc/cdi", "/var/run/cdi")


def cdi_devices(host: Host, directories: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """spec file → its `nvidia.com/gpu` device names (`nvidia-ctk cdi generate` names each GPU by
    index and, from toolkit 1.17 on by default, by UUID, plus `all`)."""
    import yaml

    found: dict[str, list[str]] = {}
    for directory in directories:
        for name in host.listdir(directory)[:256]:
            if not name.endswith((".yaml", ".yml", ".json")):
                continue
            path = f"{directory.rstrip('/')}/{name}"
            try:
                spec = yaml.safe_load(host.read(path) or "")
            except yaml.YAMLError:
                continue
            if isinstance(spec, dict) and spec.get("kind") == "nvidia.com/gpu":
                devices = spec.get("devices") or []
                found[path] = [str(d.get("name")) for d in devices if isinstance(d, dict)]
    return found
