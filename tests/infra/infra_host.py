"""An SSH-able Debian test host for the Ansible roles, built offline and run as a container.

The image is a debootstrap'ed bookworm with systemd, sshd and python3, imported with `docker import`
and tagged by a hash of this recipe, so it is rebuilt only when the recipe changes. The container is a
realistic host: systemd is PID 1, Docker installed inside it by the role runs as a systemd service,
and Ansible and testinfra reach it over real SSH on a loopback port.
"""

from __future__ import annotations

import hashlib
import inspect
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "mlci-infra"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
ADMIN_USER = "mlci-admin"  # like a cloud image's `ubuntu`: takes UID 1000, sudo without a password
PACKAGES = [
    "openssh-server",
    "python3",
    "systemd",
    "systemd-sysv",
    "dbus",
    "sudo",
    "ca-certificates",
    "iproute2",
    "gnupg",
    "curl",
    "procps",
]
# Units that only make sense on a machine with consoles and udev; in a container they fail and
# would leave systemd "degraded" for reasons unrelated to what the roles do.
MASKED_UNITS = [
    "getty@tty1.service",
    "console-getty.service",
    "systemd-udevd.service",
    "systemd-udev-trigger.service",
    "systemd-remount-fs.service",
    "systemd-firstboot.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
]
# Docker's --privileged does not work on these machines; this is the set of flags that does.
CAPABILITY_FLAGS = [
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--device-cgroup-rule=a *:* rwm",
]


def _docker(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=capture)


def recipe_tag() -> str:
    """The image tag: a hash of everything that goes into the image, so a changed recipe rebuilds it."""
    recipe = [SUITE, MIRROR, ADMIN_USER, *PACKAGES, *MASKED_UNITS]
    recipe += [inspect.getsource(step) for step in (_write_rootfs_config, build_rootfs_tarball, import_image)]
    digest = hashlib.sha256("\n".join(recipe).encode()).hexdigest()[:12]
    return f"{PREFIX}-sshhost:{digest}"


def _write_rootfs_config(root: Path) -> None:
    (root / "etc/hostname").write_text("mlci-test-host\n")
    (root / "etc/apt/sources.list").write_text(f"deb {MIRROR} {SUITE} main\n")
    # An empty machine-id makes systemd generate one per container on first boot.
    (root / "etc/machine-id").write_text("")
    (root / "etc/sudoers.d/90-mlci-admin").write_text(f"{ADMIN_USER} ALL=(ALL) NOPASSWD:ALL\n")
    (root / "etc/sudoers.d/90-mlci-admin").chmod(0o440)
    (root / "etc/ssh/sshd_config.d/10-mlci-test.conf").write_text(
        "PasswordAuthentication no\nPermitRootLogin no\nUseDNS no\n"
    )
    for unit in MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")


def build_rootfs_tarball(tarball: Path, log: Path) -> None:
    """debootstrap → configure → tar; about a minute, once per recipe."""
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        with log.open("w") as out:
            for command in (
                ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), MIRROR],
                [
                    "chroot",
                    str(root),
                    "useradd",
                    "--create-home",
                    "--shell",
                    "/bin/bash",
                    "--groups",
                    "sudo",
                    ADMIN_USER,
                ],
            ):
                subprocess.run(command, check=True, stdout=out, stderr=subprocess.STDOUT)
        _write_rootfs_config(root)
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True)
        partial.rename(tarball)  # a killed build never leaves a tarball that looks complete


def import_image(tarball: Path, tag: str) -> None:
    # `docker import --change` accepts only CMD, ENTRYPOINT, ENV, EXPOSE, ONBUILD, USER, VOLUME, WORKDIR.
    imported = _docker(
        "import", "--change", 'CMD ["/sbin/init"]', "--change", "ENV container=docker", str(tarball), tag, check=False
    )
    if imported.returncode != 0:
        raise RuntimeError(f"docker import of {tarball} failed: {imported.stderr.strip()}")


def ensure_image(workdir: Path) -> str:
    """The image for this recipe: Docker's image store is the cache, keyed by the recipe's tag."""
    tag = recipe_tag()
    if _docker("image", "inspect", tag, check=False).returncode != 0:
        tarball = workdir / "rootfs.tar"
        build_rootfs_tarball(tarball, workdir / "debootstrap.log")
        import_image(tarball, tag)
        tarball.unlink()
        _remove_older_images(tag)
    return tag


def _remove_older_images(current: str) -> None:
    """Images of earlier recipes are never used again: free their space."""
    repository = current.split(":")[0]
    listed = _docker("images", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()
    for old in listed:
        if old != current:
            _docker("rmi", old, check=False)


@dataclass
class SshHost:
    name: str
    port: int
    user: str
    identity_file: Path
    ssh_config: Path

    @property
    def testinfra_url(self) -> str:
        return f"ssh://{self.name}"


def _published_port(container: str) -> int:
    out = _docker("port", container, "22/tcp").stdout.strip().splitlines()[0]
    return int(out.rsplit(":", 1)[1])


def start_host(image: str, name: str, workdir: Path) -> SshHost:
    """Run the host on Docker's default bridge, its sshd published on a free loopback port only."""
    _docker(
        "run",
        "--detach",
        "--name",
        name,
        "--hostname",
        "mlci-test-host",
        "--label",
        f"{PREFIX}=1",
        "--stop-signal",
        "SIGRTMIN+3",
        *CAPABILITY_FLAGS,
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "--volume",
        "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        # The inner dockerd cannot use overlayfs on top of the container's own overlay root.
        "--volume",
        f"{name}-docker:/var/lib/docker",
        "--publish",
        "127.0.0.1::22",
        image,
    )
    identity = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(identity)], check=True)
    public_key = identity.with_suffix(".pub").read_text()
    home = f"/home/{ADMIN_USER}"
    _docker(
        "exec",
        name,
        "sh",
        "-c",
        f"install -d -m 700 -o {ADMIN_USER} -g {ADMIN_USER} {home}/.ssh && "
        f"printf '%s' '{public_key.strip()}\n' > {home}/.ssh/authorized_keys && "
        f"chown {ADMIN_USER}: {home}/.ssh/authorized_keys && chmod 600 {home}/.ssh/authorized_keys",
    )
    port = _published_port(name)
    ssh_config = workdir / "ssh_config"
    ssh_config.write_text(
        f"Host {name}\n"
        f"  HostName 127.0.0.1\n"
        f"  Port {port}\n"
        f"  User {ADMIN_USER}\n"
        f"  IdentityFile {identity}\n"
        f"  IdentitiesOnly yes\n"
        f"  StrictHostKeyChecking no\n"
        f"  UserKnownHostsFile /dev/null\n"
        f"  LogLevel ERROR\n"
    )
    host = SshHost(name=name, port=port, user=ADMIN_USER, identity_file=identity, ssh_config=ssh_config)
    _wait_for_ssh(host)
    return host


def _wait_for_ssh(host: SshHost, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["ssh", "-F", str(host.ssh_config), host.name, "systemctl is-system-running --wait"],
            text=True,
            capture_output=True,
            timeout=60,
        )
        state = probe.stdout.strip()
        if state in {"running", "degraded"}:
            return
        last = probe.stderr.strip() or state
        time.sleep(1)
    logs = _docker("logs", "--tail", "40", host.name, check=False)
    raise RuntimeError(
        f"test host {host.name} did not accept SSH within {timeout:.0f}s: {last}\n{logs.stdout}{logs.stderr}"
    )


def remove_host(name: str) -> None:
    _docker("rm", "--force", "--volumes", name, check=False)
    _docker("volume", "rm", "--force", f"{name}-docker", check=False)
