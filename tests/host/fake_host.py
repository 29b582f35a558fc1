"""A GPU host for the smoke check's tests: files and programs answer as a real host's do.

Strict: a program the test did not install is "not found" (127), a command a test did not expect
fails the test, and the stand-in nvidia-smi refuses what the real one refuses (an unknown query
field, a format it does not know). Where the real tool exists here, it is the real tool:
`dpkg-query` reads a dpkg status file of the test's packages (`--admindir`), `apt-config` reads
the test's apt configuration (APT_CONFIG).
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from mlci.host.gpu_facts import Ran

# Fields `nvidia-smi --help-query-gpu` documents (a subset: those a test might ask for).
SMI_FIELDS = {
    "index", "uuid", "name", "driver_version", "persistence_mode", "pci.bus_id", "mig.mode.current",
    "memory.total", "serial", "vbios_version", "count", "timestamp", "compute_mode",
}  # fmt: skip
SMI_FORMATS = {"csv", "csv,noheader", "csv,noheader,nounits", "csv,nounits"}

# /proc/driver/nvidia/version of real drivers.
PROC_OPEN_580 = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build"
    "  (dvs-builder@U22-I3-AE18-09-3)  Tue Sep 23 09:53:22 UTC 2025\n"
    "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04) \n"
)
PROC_PROPRIETARY_535 = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.216.01  Wed Sep 11 00:45:35 UTC 2024\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14) \n"
)
PROC_OPEN_ARM = "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  580.65.06  Release Build\n"
PROC_OLD = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  515.76  Mon Sep 12 19:21:56 UTC 2022\n"

H100 = "NVIDIA H100 80GB HBM3"
UUIDS = [
    "GPU-5d2c7a9e-3f1b-8c4d-2e6a-9b0f1c3d5e7a",
    "GPU-a1b2c3d4-e5f6-0718-293a-4b5c6d7e8f90",
]


def smi_rows(driver: str = "580.95.05", persistence: str = "Enabled", n: int = 2, name: str = H100) -> list[dict]:
    return [
        {
            "index": str(i),
            "uuid": UUIDS[i],
            "name": name,
            "driver_version": driver,
            "persistence_mode": persistence,
            "pci.bus_id": f"00000000:{0x18 + 0x20 * i:02X}:00.0",
        }
        for i in range(n)
    ]


class FakeHost:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.files: dict[str, str] = {}
        self.dirs: set[str] = set()
        self.programs: dict[str, Callable[[list[str]], Ran]] = {}
        self.root = True
        self.calls: list[list[str]] = []

    # ---- the Host interface
    def run(self, argv: list[str], timeout: float = 30) -> Ran:
        self.calls.append(list(argv))
        handler = self.programs.get(argv[0])
        if handler is None:
            return Ran(127, "", f"{argv[0]}: command not found")
        return handler(argv)

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def glob(self, pattern: str) -> list[str]:
        return sorted(p for p in self.files if fnmatch.fnmatchcase(p, pattern))

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix) :].split("/")[0] for p in [*self.files, *self.dirs] if p.startswith(prefix)})

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.programs else None

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs or bool(self.listdir(path))

    def is_root(self) -> bool:
        return self.root

    # ---- building a host
    def program(self, name: str, answers: dict[tuple[str, ...], Ran]) -> None:
        def answer(argv: list[str]) -> Ran:
            if tuple(argv) not in answers:
                raise AssertionError(f"unexpected command: {argv}")
            return answers[tuple(argv)]

        self.programs[name] = answer

    def nvidia_smi(self, rows: list[dict] | None = None, *, error: str = "", code: int = 0) -> None:
        """nvidia-smi answering --query-gpu as the real one does (", "-separated CSV)."""

        def answer(argv: list[str]) -> Ran:
            options = dict(a.split("=", 1) for a in argv[1:] if "=" in a)
            assert set(options) == {"--query-gpu", "--format"} and len(argv) == 3, f"nvidia-smi {argv[1:]}"
            fields = options["--query-gpu"].split(",")
            if unknown := [f for f in fields if f not in SMI_FIELDS]:
                return Ran(2, f'Field "{unknown[0]}" is not a valid field to query.\n\n')
            if options["--format"] not in SMI_FORMATS:
                return Ran(2, f'"{options["--format"]}" is not a valid format.\n')
            if error:
                return Ran(code, error)
            header = [] if "noheader" in options["--format"] else [", ".join(fields)]
            return Ran(0, "\n".join(header + [", ".join(r[f] for f in fields) for r in rows or []]) + "\n")

        self.programs["nvidia-smi"] = answer

    def driver_files(self, proc: str, version: str, arch: str = "x86_64-linux-gnu") -> None:
        self.files["/proc/driver/nvidia/version"] = proc
        for lib in ("libnvidia-ml", "libcuda"):
            self.files[f"/usr/lib/{arch}/{lib}.so.{version}"] = ""
            self.files[f"/usr/lib/{arch}/{lib}.so.1"] = ""

    def pci(self, address: str, vendor: str, klass: str) -> None:
        self.files[f"/sys/bus/pci/devices/{address}/vendor"] = vendor + "\n"
        self.files[f"/sys/bus/pci/devices/{address}/class"] = klass + "\n"

    def dpkg(self, packages: dict[str, str]) -> None:
        """Real dpkg-query over a status file: package → dpkg status ("install ok installed", "hold ok installed")."""
        admin = self.tmp / "dpkg"
        admin.mkdir(exist_ok=True)
        stanzas = [
            f"Package: {name}\nStatus: {status}\nPriority: optional\nArchitecture: amd64\nVersion: 1.0\n"
            f"Description: {name}\n"
            for name, status in packages.items()
        ]
        (admin / "status").write_text("\n".join(stanzas))

        def answer(argv: list[str]) -> Ran:
            done = subprocess.run(
                ["dpkg-query", f"--admindir={admin}", *argv[1:]], capture_output=True, text=True, check=False
            )
            return Ran(done.returncode, done.stdout, done.stderr)

        self.programs["dpkg-query"] = answer

    def apt_config(self, conf: str) -> None:
        """Real apt-config reading `conf` (apt.conf syntax) instead of /etc/apt."""
        parts = self.tmp / "apt.conf.d"
        parts.mkdir(exist_ok=True)
        main = self.tmp / "apt.conf"
        main.write_text(f'Dir::Etc::Parts "{parts}";\n{conf}')

        def answer(argv: list[str]) -> Ran:
            env = {**os.environ, "APT_CONFIG": str(main)}
            done = subprocess.run(["apt-config", *argv[1:]], capture_output=True, text=True, env=env, check=False)
            return Ran(done.returncode, done.stdout, done.stderr)

        self.programs["apt-config"] = answer
