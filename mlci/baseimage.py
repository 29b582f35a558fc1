"""`mlci base-image build`: a Python base image made without any registry, from Debian packages
(debootstrap → docker import) — how an air-gapped site, or one behind a TLS-intercepting proxy,
gets the image that `build.base_image` names."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import MlciError, UsageError
from mlci.manifest.schema import DEFAULT_BASE_IMAGE

if TYPE_CHECKING:
    import docker

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


def build_base_image(client: docker.DockerClient, options: BaseImageOptions, say: Callable[[str], None]) -> str:
    """Build and import the image; return its id. Needs root and debootstrap (Debian/Ubuntu)."""
    _preflight(options)
    work = Path(tempfile.mkdtemp(prefix="mlci-base-"))
    rootfs = work / "rootfs"
    try:
        say(f"debootstrap {options.suite} from {options.mirror} (about a minute)…")
        include = ",".join(PACKAGES + options.extra_packages)
        _run(
            ["debootstrap", "--variant=minbase", f"--include={include}", options.suite, str(rootfs), options.mirror],
            "debootstrap",
            say,
        )
        if options.ca_bundle:
            say(f"trusting {options.ca_bundle}")
            target = rootfs / EXTRA_CA
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(options.ca_bundle, target)
            _run(["chroot", str(rootfs), "update-ca-certificates"], "update-ca-certificates", say)
        say(f"creating the virtual environment {VENV}")
        _run(["chroot", str(rootfs), "python3", "-m", "venv", VENV], "python3 -m venv", say)
        _slim(rootfs)
        tarball = work / "rootfs.tar"
        say("packing the root filesystem")
        with tarfile.open(tarball, "w") as tar:
            tar.add(rootfs, arcname=".")
        shutil.rmtree(rootfs)
        repository, _, tag = (
            options.tag.rpartition(":") if ":" in options.tag.split("/")[-1] else (options.tag, "", "latest")
        )
        say(f"importing as {options.tag}")
        client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=image_changes(options))
        return client.images.get(options.tag).id
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _preflight(options: BaseImageOptions) -> None:
    if shutil.which("debootstrap") is None:
        raise UsageError("debootstrap is not installed", hint="apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise UsageError("building a base image needs root (debootstrap and chroot)", hint="run it with sudo")
    if options.ca_bundle and not options.ca_bundle.is_file():
        raise UsageError(f"--ca-bundle {options.ca_bundle}: no such file", hint="pass a PEM file")
    if options.ca_bundle and b"BEGIN CERTIFICATE" not in options.ca_bundle.read_bytes()[:1_000_000]:
        raise UsageError(f"--ca-bundle {options.ca_bundle}: no PEM certificate in it", hint="pass a PEM bundle")


def _run(cmd: list[str], what: str, say: Callable[[str], None]) -> None:
    """Run a step, keeping only the tail of its output for the error message."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        tail = [*tail[-19:], line.rstrip()]
        if line.startswith(("I: Retrieving", "I: Validating")):
            continue
        if line.startswith(("I: ", "W: ", "E: ")):
            say(line.rstrip())
    if proc.wait() != 0:
        raise MlciError(
            f"{what} failed (exit {proc.returncode}):\n  " + "\n  ".join(tail),
            hint="check the mirror (--mirror) and the network",
        )


def _slim(rootfs: Path) -> None:
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / sub).glob("*"):
            if entry.is_file():
                entry.unlink()
    for sub in ("usr/share/doc", "usr/share/man", "usr/share/info"):
        shutil.rmtree(rootfs / sub, ignore_errors=True)
