"""A second Docker engine for the edge-bundle round trip: Debian's docker.io in a container of its own
(built offline from the base image; the Debian mirror is reachable), started with the capability set
that works on these machines instead of --privileged (see tests/infra/infra_host.py), its image
store on an anonymous volume, on Docker's default bridge — never `--network host`, whose daemon
would take over the outer engine's docker0. It has never seen the first engine's images: whatever
runs in it came from a bundle.

The image is tagged by a hash of its recipe and the base image's id, so it is built once per machine.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.infra.infra_host import CAPABILITY_FLAGS

PREFIX = "mlci-test-engine"
DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io iptables \\
 && rm -rf /var/lib/apt/lists/*
COPY entry.sh /usr/local/bin/entry.sh
ENTRYPOINT ["/bin/sh", "/usr/local/bin/entry.sh"]
"""
# The container's cgroup mounts are read-only unless --privileged: remount them read-write (they are
# the container's own subtree, so the inner engine's containers nest below the outer container), then
# start dockerd with its own cgroup parent. On cgroup v2, move this shell into a child group first so
# the root of the namespace may delegate controllers (what docker:dind's entry script does).
ENTRY = """\
#!/bin/sh
set -eu
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mount -o remount,rw /sys/fs/cgroup
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
  sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control || true
else
  for dir in /sys/fs/cgroup/*/; do
    mount -o remount,bind,rw "$dir" 2>/dev/null || true
  done
fi
exec dockerd --storage-driver=overlay2 --cgroup-parent=/mlci-inner-engine --host=unix:///var/run/docker.sock
"""


def _docker(
    *args: str, check: bool = True, input: str | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, input=input, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


def image_tag(base_image: str) -> str:
    base_id = _docker("image", "inspect", "--format", "{{.Id}}", base_image).stdout.strip()
    digest = hashlib.sha256("\n".join([DOCKERFILE, ENTRY, base_id]).encode()).hexdigest()[:12]
    return f"{PREFIX}:{digest}"


def ensure_image(base_image: str) -> str:
    tag = image_tag(base_image)
    if _docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as tmp:
        (Path(tmp) / "Dockerfile").write_text(DOCKERFILE)
        (Path(tmp) / "entry.sh").write_text(ENTRY)
        # --network host: apt reaches the Debian mirror the way pip reaches the index in the project builds
        _docker("build", "--network", "host", "--build-arg", f"BASE_IMAGE={base_image}", "-t", tag, tmp)
    for old in _docker("images", "--format", "{{.Repository}}:{{.Tag}}", PREFIX).stdout.split():
        if old != tag:  # an earlier recipe's image is never used again
            _docker("rmi", old, check=False)
    return tag


class SecondEngine:
    """A running inner engine; `docker(...)` runs the docker CLI inside it."""

    def __init__(self, image: str):
        self.name = f"{PREFIX}-{uuid.uuid4().hex[:8]}"
        self.image = image

    def start(self, timeout: float = 120) -> None:
        _docker("run", "--detach", "--name", self.name, *CAPABILITY_FLAGS, "--volume", "/var/lib/docker", self.image)
        deadline = time.monotonic() + timeout
        while True:
            info = self.exec("docker", "info", "--format", "{{.ServerVersion}}", check=False)
            if info.returncode == 0 and info.stdout.strip():
                return
            if time.monotonic() > deadline:
                logs = _docker("logs", "--tail", "40", self.name, check=False)
                raise RuntimeError(f"the inner engine did not start: {logs.stdout[-2000:]}{logs.stderr[-2000:]}")
            time.sleep(0.5)

    def exec(self, *args: str, check: bool = True, input: str | None = None, timeout: float = 600):
        return _docker(
            "exec",
            *(["--interactive"] if input is not None else []),
            self.name,
            *args,
            check=check,
            input=input,
            timeout=timeout,
        )

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.exec("docker", *args, check=check)

    def copy_in(self, source: Path, target: str) -> None:
        _docker("cp", str(source), f"{self.name}:{target}")

    def remove(self) -> None:
        # the inner engine's containers and images live in this container and its anonymous volume
        _docker("rm", "--force", "--volumes", self.name, check=False)
