"""`mlci base-image build`: a Python base image made without any registry, from Debian packages
(debootstrap → docker import) — how an air-gapped site, or one behind a TLS-intercepting proxy,
gets the image that `build.base_image` names."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from mlci.errors import MlciError, UsageError
from mlci.manifest.schema import DEFAULT_BASE_IMAGE
from mlci.progress import Phase, Phases, show_tail
from mlci.runner.stage_cache import ensure_cache_dir

if TYPE_CHECKING:
    import docker

# docker-py (with requests, ~0.3 s) is imported in the functions that talk to the engine, so that
# commands which never do (`mlci --help`, validate, status) do not pay for it; tests/test_layout.py checks.

DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates"]
VENV = "/opt/venv"
EXTRA_CA = "usr/local/share/ca-certificates/mlci-extra.crt"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass
class BaseImageOptions:
    tag: str = DEFAULT_BASE_IMAGE
    suite: str = "bookworm"
    mirror: str = DEFAULT_MIRROR
    ca_bundle: Path | None = None
    pip_index_url: str | None = None
    extra_packages: list[str] = field(default_factory=list)


def image_changes(options: BaseImageOptions) -> list[str]:
    """Dockerfile instructions applied by `docker import`: the venv first on PATH, pip trusting the
    system bundle (which includes --ca-bundle) and using the given index. No PIP_NO_CACHE_DIR: pip
    reads any value of it as "off", which would also disable the stages' cache (/mlci/cache/pip);
    Dockerfiles keep layers small with `pip install --no-cache-dir` instead."""
    env = {
        "PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "VIRTUAL_ENV": VENV,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CERT": SYSTEM_BUNDLE,
        "REQUESTS_CA_BUNDLE": SYSTEM_BUNDLE,
        "SSL_CERT_FILE": SYSTEM_BUNDLE,
    }
    if options.pip_index_url:
        env["PIP_INDEX_URL"] = options.pip_index_url
    return [f'ENV {k}="{v}"' for k, v in env.items()] + ['CMD ["python3"]', "WORKDIR /app"]


def default_log_path() -> Path:
    return ensure_cache_dir() / "logs" / time.strftime("base-image-%Y%m%d-%H%M%S.log")


def build_base_image(
    client: docker.DockerClient, options: BaseImageOptions, phases: Phases, log_path: Path | None = None
) -> str:
    """Build and import the image; return its id. Needs root and debootstrap (Debian/Ubuntu).
    One progress line per phase; every tool's full output goes to `log_path`."""
    _preflight(options)
    log_path = log_path or default_log_path()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mlci-base-"))
    rootfs = work / "rootfs"
    phases.say(f"full log: {log_path}")
    with log_path.open("a", encoding="utf-8") as log:
        step = StepRunner(phases, log, log_path)
        try:
            include = ",".join(PACKAGES + options.extra_packages)
            step.run(
                f"debootstrap {options.suite} from {options.mirror}",
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={include}",
                    options.suite,
                    str(rootfs),
                    options.mirror,
                ],
                counter=DebootstrapCounter(),
            )
            if options.ca_bundle:
                target = rootfs / EXTRA_CA
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(options.ca_bundle, target)
                step.run(f"trusting {options.ca_bundle}", ["chroot", str(rootfs), "update-ca-certificates"])
            step.run(f"creating {VENV}", ["chroot", str(rootfs), "python3", "-m", "venv", VENV])
            _slim(rootfs)
            tarball = work / "rootfs.tar"
            with phases.phase("packing the root filesystem") as phase:
                _pack(rootfs, tarball, phase)
            shutil.rmtree(rootfs)
            repository, _, tag = (
                options.tag.rpartition(":") if ":" in options.tag.split("/")[-1] else (options.tag, "", "latest")
            )
            with phases.phase(f"importing as {options.tag}"):
                client.api.import_image_from_file(
                    str(tarball), repository=repository, tag=tag, changes=image_changes(options)
                )
            return client.images.get(options.tag).id
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _pack(rootfs: Path, tarball: Path, phase: Phase) -> None:
    files = 0

    def count(info: tarfile.TarInfo) -> tarfile.TarInfo:
        nonlocal files
        files += 1
        if files % 500 == 0:
            phase.count(f"{files} files")
        return info

    with tarfile.open(tarball, "w") as tar:
        tar.add(rootfs, arcname=".", filter=count)
    phase.count(f"{files} files, {tarball.stat().st_size / 1e6:.0f} MB")


def _preflight(options: BaseImageOptions) -> None:
    if shutil.which("debootstrap") is None:
        raise UsageError("debootstrap is not installed", hint="apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise UsageError("building a base image needs root (debootstrap and chroot)", hint="run it with sudo")
    if options.ca_bundle and not options.ca_bundle.is_file():
        raise UsageError(f"--ca-bundle {options.ca_bundle}: no such file", hint="pass a PEM file")
    if options.ca_bundle and b"BEGIN CERTIFICATE" not in options.ca_bundle.read_bytes()[:1_000_000]:
        raise UsageError(f"--ca-bundle {options.ca_bundle}: no PEM certificate in it", hint="pass a PEM bundle")


class DebootstrapCounter:
    """Counts from debootstrap's `I:` lines: packages retrieved, unpacked, configured."""

    def __init__(self) -> None:
        self.seen = {"Retrieving": 0, "Unpacking": 0, "Configuring": 0}
        self.labels = {"Retrieving": "retrieved", "Unpacking": "unpacked", "Configuring": "configured"}

    def __call__(self, line: str) -> str | None:
        verb = line[3:].split(" ", 1)[0] if line.startswith("I: ") else ""
        if verb not in self.seen:
            return None
        self.seen[verb] += 1
        return ", ".join(f"{n} {self.labels[verb]}" for verb, n in self.seen.items())


class StepRunner:
    """Runs a tool as one phase: its output to the log (and the console with -v), counts from its
    lines, and on failure the log's last lines and an error naming the log."""

    def __init__(self, phases: Phases, log: TextIO, log_path: Path):
        self.phases, self.log, self.log_path = phases, log, log_path

    def run(self, title: str, cmd: list[str], counter: Callable[[str], str | None] | None = None) -> None:
        self.log.write(f"$ {' '.join(cmd)}\n")
        self.log.flush()
        try:
            with self.phases.phase(title) as phase:
                proc = subprocess.Popen(
                    cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
                )
                assert proc.stdout is not None
                for line in proc.stdout:
                    self.log.write(line)
                    if self.phases.verbose:
                        self.phases.echo(line)
                    if counter and (counts := counter(line)):
                        phase.count(counts)
                self.log.flush()
                if proc.wait() != 0:
                    raise _StepFailed(proc.returncode)
        except _StepFailed as failed:
            self.log.flush()
            if not self.phases.verbose:  # with -v the whole output is already on the console
                show_tail(self.phases, self.log_path)
            raise MlciError(
                f"{cmd[0]} failed (exit {failed.code}); full log: {self.log_path}",
                hint="check the mirror (--mirror) and the network",
            ) from None


class _StepFailed(Exception):
    def __init__(self, code: int):
        self.code = code


def _slim(rootfs: Path) -> None:
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / sub).glob("*"):
            if entry.is_file():
                entry.unlink()
    for sub in ("usr/share/doc", "usr/share/man", "usr/share/info"):
        shutil.rmtree(rootfs / sub, ignore_errors=True)
