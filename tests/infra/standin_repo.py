"""Signed apt repositories of stand-in packages for the GPU roles: the real package names, versions
and dependency structure of NVIDIA's driver and Container Toolkit packages as Ubuntu, Debian 12 and
NVIDIA publish them, with stand-in binaries (tests/infra/standin/) instead of drivers.

apt on the SSH test host resolves, pins, holds and upgrades these exactly as it would the real ones:
the roles' repository, pinning, hold and unattended-upgrades logic runs with apt deciding. The
repositories are built with dpkg-deb, signed with a throwaway GPG key (apt checks InRelease against
it, through `signed-by`), and copied into the test host, where apt reads them as file:// sources.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

STANDIN = Path(__file__).resolve().parent / "standin"
HOST_ROOT = "/srv/mlci-standin"  # where the repositories live on the test host
KEY_FILE = f"{HOST_ROOT}/standin.asc"

UBUNTU_BRANCH = "580"
UBUNTU_VERSION = "580.95.05-0ubuntu0.24.04.2"  # the archive's newest driver
UBUNTU_OLD_VERSION = "580.82.07-0ubuntu0.24.04.1"  # what the running kernel's signed modules are built for
UBUNTU_FM_REVISION = "-0ubuntu0.24.04.1"  # Fabric Manager's own packaging revision (not the driver's)
UBUNTU_KERNEL = "6.8.0-45-generic"  # the "running" kernel the tests give the role: its modules are older
UBUNTU_NEWER_KERNEL = "6.8.0-48-generic"  # the archive's current kernel, modules for the newest driver
UBUNTU_KERNEL_WITHOUT_MODULES = "6.8.0-50-generic"  # no signed modules published for it
FOREIGN_DRIVER = ("nvidia-driver-580-open", "580.65.06-0ubuntu1")  # e.g. NVIDIA's CUDA repository's
DEBIAN_VERSION = "535.247.01-1~deb12u1"
DEBIAN_PERSISTENCED = "535.171.04-1"
DEBIAN_OTHER_BRANCH = "550.163.01-2"  # newer, in the same sources: the pin must keep 535
DEBIAN_KERNEL = "6.1.0-28-amd64"
DEBIAN_NEWER_KERNEL = "6.1.0-30-amd64"
TOOLKIT_VERSIONS = ("1.17.7-1", "1.17.8-1")
TOOLKIT_PACKAGES = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)
LIBDIR = "/usr/lib/x86_64-linux-gnu"

# Ubuntu's unit (nvidia-compute-utils-<branch>-server): forking, unprivileged user, persistence off,
# stopped when nothing needs it.
UBUNTU_PERSISTENCED_UNIT = """[Unit]
Description=NVIDIA Persistence Daemon
Wants=syslog.target
StopWhenUnneeded=true

[Service]
Type=forking
ExecStart=/usr/bin/nvidia-persistenced --user nvidia-persistenced --no-persistence-mode --verbose
ExecStopPost=/bin/rm -rf /var/run/nvidia-persistenced

[Install]
WantedBy=multi-user.target
"""
DEBIAN_PERSISTENCED_UNIT = """[Unit]
Description=NVIDIA Persistence Daemon
Wants=syslog.target

[Service]
Type=forking
ExecStart=/usr/bin/nvidia-persistenced --user nvpd
ExecStopPost=/bin/rm -rf /var/run/nvidia-persistenced

[Install]
WantedBy=multi-user.target
"""
FABRICMANAGER_UNIT = """[Unit]
Description=NVIDIA fabric manager service

[Service]
User=root
Type=forking
TimeoutStartSec=240
ExecStart=/usr/bin/nv-fabricmanager -c /usr/share/nvidia/nvswitch/fabricmanager.cfg
LimitCORE=infinity

[Install]
WantedBy=multi-user.target
"""


def _adduser(name: str) -> str:
    return f"#!/bin/sh\nset -e\ngetent passwd {name} >/dev/null || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin {name}\n"


@dataclass
class Deb:
    name: str
    version: str
    depends: str = ""
    section: str = "non-free"  # Debian component (ignored for flat repositories)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (content, mode)
    postinst: str = ""


def _script(name: str, version: str) -> tuple[str, int]:
    return (STANDIN.joinpath(name).read_text().replace("@VERSION@", version.split("-")[0]), 0o755)


def _module(version: str) -> tuple[str, int]:
    """A kernel module file: the stand-in reboot "loads" the version written in it."""
    return (f"version={version.split('-')[0]}\n", 0o644)


def _nvml(version: str) -> dict[str, tuple[str, int]]:
    """The NVML library, named after the driver version as the real one is."""
    return {f"{LIBDIR}/libnvidia-ml.so.{version.split('-')[0]}": ("", 0o644)}


def ubuntu_packages() -> list[Deb]:
    b = UBUNTU_BRANCH
    debs = []
    for v in (UBUNTU_OLD_VERSION, UBUNTU_VERSION):
        exact = f"(= {v})"
        upstream = v.split("-")[0]
        fm = upstream + UBUNTU_FM_REVISION
        debs += [
            Deb(f"nvidia-kernel-common-{b}-server", v),
            Deb(f"libnvidia-compute-{b}-server", v, files=_nvml(v)),
            Deb(
                f"nvidia-compute-utils-{b}-server",
                v,
                f"libnvidia-compute-{b}-server {exact}",
                files={
                    "/usr/bin/nvidia-persistenced": _script("nvidia-persistenced", v),
                    "/usr/lib/systemd/system/nvidia-persistenced.service": (UBUNTU_PERSISTENCED_UNIT, 0o644),
                },
                postinst=_adduser("nvidia-persistenced"),
            ),
            Deb(
                f"nvidia-utils-{b}-server",
                v,
                f"libnvidia-compute-{b}-server {exact}",
                files={"/usr/bin/nvidia-smi": _script("nvidia-smi", v)},
            ),
            Deb(f"nvidia-dkms-{b}-server", v, f"nvidia-kernel-common-{b}-server {exact}"),
            # nvidia-headless-<b>-server = no-dkms + nvidia-dkms: DKMS-built, unsigned modules.
            Deb(
                f"nvidia-headless-{b}-server",
                v,
                f"nvidia-headless-no-dkms-{b}-server {exact}, nvidia-dkms-{b}-server {exact}",
            ),
            Deb(
                f"nvidia-fabricmanager-{b}",
                fm,
                files={
                    "/usr/bin/nv-fabricmanager": _script("nv-fabricmanager", fm),
                    "/usr/share/nvidia/nvswitch/fabricmanager.cfg": ("LOG_LEVEL=4\n", 0o644),
                    "/usr/lib/systemd/system/nvidia-fabricmanager.service": (FABRICMANAGER_UNIT, 0o644),
                },
            ),
            Deb(f"libnvidia-nscq-{b}", fm),
        ]
        for suffix in ("", "-open"):
            debs.append(
                Deb(
                    f"nvidia-headless-no-dkms-{b}-server{suffix}",
                    v,
                    f"nvidia-kernel-common-{b}-server {exact}, nvidia-compute-utils-{b}-server {exact},"
                    f" libnvidia-compute-{b}-server {exact}",
                )
            )
    for suffix in ("", "-open"):
        # Each kernel's signed modules are built for one driver version and say so, as Canonical's do:
        # nvidia-kernel-common-<b>-server (<= V-1), (>= V).
        for kernel, v in ((UBUNTU_KERNEL, UBUNTU_OLD_VERSION), (UBUNTU_NEWER_KERNEL, UBUNTU_VERSION)):
            abi = kernel.split("-")[1]
            upstream = v.split("-")[0]
            debs.append(
                Deb(
                    f"linux-modules-nvidia-{b}-server{suffix}-{kernel}",
                    f"{kernel.rsplit('-', 1)[0].replace('-', '.')}+{abi}.1",
                    f"linux-image-{kernel} | linux-image-unsigned-{kernel},"
                    f" nvidia-kernel-common-{b}-server (<= {upstream}-1), nvidia-kernel-common-{b}-server (>= {upstream})",
                    files={f"/lib/modules/{kernel}/kernel/nvidia-{b}srv{suffix}/nvidia.ko": _module(v)},
                )
            )
        # The flavour meta package follows the newest kernel, not the running one.
        debs.append(
            Deb(
                f"linux-modules-nvidia-{b}-server{suffix}-generic",
                "6.8.0-48.48+1",
                f"linux-modules-nvidia-{b}-server{suffix}-{UBUNTU_NEWER_KERNEL}",
            )
        )
    for kernel in (UBUNTU_KERNEL, UBUNTU_NEWER_KERNEL, UBUNTU_KERNEL_WITHOUT_MODULES):
        debs.append(Deb(f"linux-image-{kernel}", f"{kernel.rsplit('-', 1)[0].replace('-', '.')}"))
    name, v = FOREIGN_DRIVER
    debs.append(Deb(name, v, files={"/usr/bin/nvidia-smi": _script("nvidia-smi", v), **_nvml(v)}))
    return debs


def debian_packages(extra_versions: tuple[str, ...] = ()) -> list[Deb]:
    debs = []
    for v in (DEBIAN_VERSION, DEBIAN_OTHER_BRANCH, *extra_versions):
        exact = f"(= {v})"
        # DKMS builds the module for the installed headers' kernel: the stand-in ships the result.
        module = {f"/lib/modules/{DEBIAN_KERNEL}/updates/dkms/nvidia-current.ko": _module(v)}
        debs += [
            Deb("firmware-nvidia-gsp", v, section="non-free-firmware"),
            Deb("nvidia-kernel-support", v),
            Deb("nvidia-kernel-dkms", v, f"nvidia-kernel-support {exact}, firmware-nvidia-gsp {exact}", files=module),
            Deb(
                "nvidia-open-kernel-dkms",
                v,
                f"nvidia-kernel-support {exact}, firmware-nvidia-gsp {exact}",
                files=module,
            ),
            Deb("libnvidia-ml1", v, files=_nvml(v)),
            Deb("nvidia-smi", v, f"libnvidia-ml1 {exact}", files={"/usr/bin/nvidia-smi": _script("nvidia-smi", v)}),
            Deb("libcuda1", v, f"nvidia-kernel-dkms {exact} | nvidia-open-kernel-dkms {exact}"),
        ]
    debs.append(
        Deb(
            "nvidia-persistenced",
            DEBIAN_PERSISTENCED,
            section="contrib",
            files={
                "/usr/bin/nvidia-persistenced": _script("nvidia-persistenced", DEBIAN_PERSISTENCED),
                "/usr/lib/systemd/system/nvidia-persistenced.service": (DEBIAN_PERSISTENCED_UNIT, 0o644),
            },
            postinst=_adduser("nvpd"),
        )
    )
    for kernel in (DEBIAN_KERNEL, DEBIAN_NEWER_KERNEL):
        debs.append(Deb(f"linux-headers-{kernel}", kernel.rsplit("-", 1)[0].replace("-", "."), section="main"))
    # The headers meta package follows the newest kernel: what DKMS would build against by default.
    debs.append(Deb("linux-headers-amd64", "6.1.0.30", f"linux-headers-{DEBIAN_NEWER_KERNEL}", section="main"))
    return debs


def toolkit_packages(versions: tuple[str, ...] = TOOLKIT_VERSIONS) -> list[Deb]:
    debs = []
    for v in versions:
        debs += [
            Deb("libnvidia-container1", v),
            Deb("libnvidia-container-tools", v, f"libnvidia-container1 (>= {v})"),
            Deb("nvidia-container-toolkit-base", v, files={"/usr/bin/nvidia-ctk": _script("nvidia-ctk", v)}),
            Deb(
                "nvidia-container-toolkit",
                v,
                f"nvidia-container-toolkit-base (= {v}), libnvidia-container-tools (>= {v}),"
                " libnvidia-container-tools (<< 2.0.0)",
                files={"/usr/bin/nvidia-container-runtime": ('#!/bin/sh\nexec runc "$@"\n', 0o755)},
            ),
        ]
    return debs


class Repositories:
    """The three repositories under `root`, signed with a key made for them."""

    def __init__(self, root: Path, arch: str = "amd64") -> None:
        self.root, self.arch = root, arch
        self.gnupg = root / ".gnupg"
        self.gnupg.mkdir(parents=True, mode=0o700)
        self._gpg(
            "--quick-gen-key",
            "--passphrase",
            "",
            "mlci stand-in archive <standin@mlci.invalid>",
            "ed25519",
            "sign",
            "never",
        )
        (root / "standin.asc").write_bytes(self._gpg("--armor", "--export"))

    def _gpg(self, *args: str) -> bytes:
        done = subprocess.run(
            ["gpg", "--homedir", str(self.gnupg), "--batch", "--pinentry-mode", "loopback", *args],
            capture_output=True,
            check=True,
        )
        return done.stdout

    def build(
        self, *, toolkit_versions: tuple[str, ...] = TOOLKIT_VERSIONS, debian_extra: tuple[str, ...] = ()
    ) -> None:
        self._flat(self.root / "ubuntu", ubuntu_packages())
        self._flat(self.root / "nvidia" / self.arch, toolkit_packages(toolkit_versions))
        self._dists(self.root / "debian", "bookworm", debian_packages(debian_extra))

    def _deb(self, deb: Deb, pool: Path) -> Path:
        out = pool / f"{deb.name}_{deb.version.replace(':', '%3a')}_{self.arch}.deb"
        if out.exists():
            return out
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp)
            (tree / "DEBIAN").mkdir()
            control = [
                f"Package: {deb.name}",
                f"Version: {deb.version}",
                f"Architecture: {self.arch}",
                "Maintainer: mlci stand-in <standin@mlci.invalid>",
                f"Section: {deb.section}",
                "Priority: optional",
            ]
            if deb.depends:
                control.append(f"Depends: {deb.depends}")
            control.append(f"Description: stand-in for {deb.name} (mlci infra tests; no driver inside)")
            (tree / "DEBIAN/control").write_text("\n".join(control) + "\n")
            if deb.postinst:
                (tree / "DEBIAN/postinst").write_text(deb.postinst)
                (tree / "DEBIAN/postinst").chmod(0o755)
            for path, (content, mode) in deb.files.items():
                target = tree / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
                target.chmod(mode)
            pool.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree), str(out)],
                check=True,
                capture_output=True,
            )
        return out

    def _stanza(self, deb_file: Path, relative_to: Path) -> str:
        control = subprocess.run(["dpkg-deb", "-f", str(deb_file)], capture_output=True, text=True, check=True).stdout
        data = deb_file.read_bytes()
        return (
            control.rstrip("\n")
            + f"\nFilename: {deb_file.relative_to(relative_to)}\nSize: {len(data)}\n"
            + f"MD5sum: {hashlib.md5(data).hexdigest()}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
        )

    def _write_index(self, directory: Path, stanzas: list[str]) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        text = "\n".join(stanzas).encode()
        (directory / "Packages").write_bytes(text)
        (directory / "Packages.gz").write_bytes(gzip.compress(text, mtime=0))
        return [directory / "Packages", directory / "Packages.gz"]

    def _release(self, directory: Path, files: list[Path], fields: dict[str, str]) -> None:
        lines = [f"{k}: {v}" for k, v in fields.items()]
        lines.append("Date: Thu, 01 Jan 2026 00:00:00 UTC")
        lines.append("SHA256:")
        for f in files:
            data = f.read_bytes()
            lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {f.relative_to(directory)}")
        release = directory / "Release"
        release.write_text("\n".join(lines) + "\n")
        inrelease = directory / "InRelease"
        inrelease.unlink(missing_ok=True)
        self._gpg("--clearsign", "--output", str(inrelease), str(release))

    def _flat(self, directory: Path, debs: list[Deb]) -> None:
        pool = directory / "pool"
        stanzas = [self._stanza(self._deb(d, pool), directory) for d in debs]
        files = self._write_index(directory, stanzas)
        self._release(directory, files, {"Origin": "mlci-standin", "Label": directory.name, "Architectures": self.arch})

    def _dists(self, directory: Path, suite: str, debs: list[Deb]) -> None:
        components = ["main", "contrib", "non-free", "non-free-firmware"]
        files = []
        for component in components:
            pool = directory / "pool" / component
            stanzas = [self._stanza(self._deb(d, pool), directory) for d in debs if d.section == component]
            files += self._write_index(directory / "dists" / suite / component / f"binary-{self.arch}", stanzas)
        self._release(
            directory / "dists" / suite,
            files,
            {
                "Origin": "Debian",
                "Label": "Debian",
                "Suite": "stable",
                "Codename": suite,
                "Architectures": self.arch,
                "Components": " ".join(components),
            },
        )

    def tarball(self) -> bytes:
        """The repositories (without the signing key's private half) as a tar stream for the host."""
        done = subprocess.run(
            ["tar", "-C", str(self.root), "--exclude=.gnupg", "--owner=0", "--group=0", "-c", "."],
            capture_output=True,
            check=True,
        )
        return done.stdout


def copy_to_host(repos: Repositories, ssh: list[str]) -> None:
    """Unpack the repositories at HOST_ROOT on the test host (apt reads them as file:// sources)."""
    done = subprocess.run(
        [
            *ssh,
            f"sudo rm -rf {HOST_ROOT} && sudo mkdir -p {HOST_ROOT} && sudo tar -C {HOST_ROOT} -x && sudo chmod -R a+rX {HOST_ROOT}",
        ],
        input=repos.tarball(),
        capture_output=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"copying the stand-in repositories failed: {done.stderr.decode()}")


if __name__ == "__main__":  # build once by hand to look at: python tests/infra/standin_repo.py DIR
    import sys

    target = Path(sys.argv[1])
    shutil.rmtree(target, ignore_errors=True)
    Repositories(target).build()
    print(sorted(str(p.relative_to(target)) for p in target.rglob("Packages")), os.getpid())
