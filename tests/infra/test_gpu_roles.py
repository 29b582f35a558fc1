"""The GPU roles against stand-in NVIDIA packages on a real SSH test host, with apt deciding.

A host of its own (the session host takes the no-GPU path): fake lspci sees two H100s, fake
mokutil answers the Secure Boot state, and signed apt repositories (standin_repo.py) carry the
real package names, versions and dependencies of Ubuntu's and Debian's driver packages and of
NVIDIA's Container Toolkit. What only a real GPU host verifies (the module loads, containers see
GPUs) is in test_gpu_host.py and tests/runner/test_gpu.py; see ansible/README.md.
"""

from __future__ import annotations

import json
import shutil
import uuid

import infra_host
import pytest
import standin_repo as repo
import yaml
from infra_checkout import ANSIBLE_DIR, make_checkout

pytestmark = [pytest.mark.docker, pytest.mark.slow]

GPUS = [
    ("0", "GPU-6b1f2a3c-0000-4000-8000-000000000001", "NVIDIA H100 80GB HBM3", "81559", "Disabled"),
    ("1", "GPU-6b1f2a3c-0000-4000-8000-000000000002", "NVIDIA H100 80GB HBM3", "81559", "Disabled"),
]
LSPCI = "01:00.0 0302: 10de:2330 (rev a1)\n02:00.0 0302: 10de:2330 (rev a1)\n"
# An HGX H100 baseboard: the GPUs and NVSwitches (bridge class 0680, 10de:22a3).
LSPCI_HGX = LSPCI + "07:00.0 0680: 10de:22a3 (rev a1)\n08:00.0 0680: 10de:22a3 (rev a1)\n"
LSPCI_V100 = "01:00.0 0302: 10de:1db4 (rev a1)\n02:00.0 0302: 10de:1db4 (rev a1)\n"  # Volta
PLAY = """\
- name: The GPU host roles, against stand-in packages
  hosts: all
  become: true
  roles:
    - role: docker
    - role: nvidia_driver
    - role: nvidia_container_toolkit
    - role: nvidia_gpu_inventory
"""
# Keys other parties put in daemon.json that the docker role must keep.
SEEDED_DAEMON_JSON = {"exec-opts": ["native.cgroupdriver=systemd"], "features": {"cdi": False}, "debug": False}
TOOLKIT = list(repo.TOOLKIT_PACKAGES)
STATE = "/etc/mlci-standin"


def ubuntu_args(kernel: str) -> list[str]:
    """The Ubuntu path on the Debian test host: distribution and running kernel given, toolkit and
    inventory left to the Debian runs."""
    return [
        "-e", "nvidia_driver_distribution=Ubuntu",
        "-e", f"nvidia_driver_kernel_release={kernel}",
        "-e", "nvidia_container_toolkit_enabled=false",
        "-e", "nvidia_gpu_inventory_enabled=false",
    ]  # fmt: skip


class GpuHost:
    def __init__(self, checkout, repos):
        self.checkout, self.repos = checkout, repos

    def sh(self, command: str) -> str:
        done = self.checkout.host_shell(command)
        assert done.returncode == 0, f"{command}: {done.stderr}{done.stdout}"
        return done.stdout

    def play(self, *args: str):
        return self.checkout.playbook(*args, playbook="gpu.yml")

    def versions(self, *packages: str) -> dict[str, str]:
        out = self.checkout.host_shell(
            f"dpkg-query -W -f '${{Package}} ${{Version}} ${{Status}}\\n' {' '.join(packages)}"
        )
        # Status is "install ok installed" or "hold ok installed"; "unknown ok not-installed" is not.
        return {line.split()[0]: line.split()[1] for line in out.stdout.splitlines() if line.endswith(" ok installed")}

    def holds(self) -> set[str]:
        return set(self.sh("apt-mark showhold").split())

    def state(self, name: str, text: str) -> None:
        self.sh(f"printf '%s' '{text}' | sudo tee {STATE}/{name} >/dev/null")

    def daemon_user(self, program: str) -> str:
        """The user a daemon (its /usr/bin path) runs as, or '' when it does not run."""
        done = self.checkout.host_shell(f"ps -o user= -p $(pgrep -f '^/usr/bin/python3 {program}' | head -n 1)")
        return done.stdout.strip() if done.returncode == 0 else ""

    def purge_driver(self) -> None:
        self.sh(
            "sudo systemctl stop nvidia-persistenced nvidia-fabricmanager 2>/dev/null;"
            " sudo apt-mark unhold $(apt-mark showhold | grep -v '^docker') >/dev/null 2>&1;"
            " sudo DEBIAN_FRONTEND=noninteractive apt-get purge -y -q '~n^nvidia-' '~n^libnvidia-' '~n^linux-modules-nvidia-'"
            " '~n^linux-image-' >/dev/null && sudo rm -f /etc/mlci/nvidia-driver-managed"
            f" /etc/apt/preferences.d/mlci-nvidia-driver {STATE}/loaded-module && sudo systemctl daemon-reload"
        )


@pytest.fixture(scope="module")
def gpu_host(tmp_path_factory):
    image = infra_host.ensure_image(tmp_path_factory.mktemp("image"))
    name = f"{infra_host.PREFIX}-gpu-{uuid.uuid4().hex[:8]}"
    try:
        host = infra_host.start_host(image, name, tmp_path_factory.mktemp("ssh"))
        checkout = make_checkout(tmp_path_factory.mktemp("checkout"), host)
        (checkout.ansible_dir / "gpu.yml").write_text(PLAY)
        shutil.copy(ANSIBLE_DIR / "gpu-maintenance.yml", checkout.ansible_dir / "gpu-maintenance.yml")
        root = tmp_path_factory.mktemp("repos")
        repos = repo.Repositories(root / "repos")
        repos.build()
        ssh = ["ssh", "-F", str(host.ssh_config), host.name]
        repo.copy_to_host(repos, ssh)
        gpu = GpuHost(checkout, repos)
        standin = repo.STANDIN
        for tool, target in (("lspci", "bin"), ("mokutil", "bin"), ("mlci-standin-reboot", "sbin")):
            gpu.sh(
                f"sudo tee /usr/local/{target}/{tool} >/dev/null <<'EOF'\n{(standin / tool).read_text()}EOF\n"
                f"sudo chmod 755 /usr/local/{target}/{tool}"
            )
        csv = "".join(",".join(g) + "\n" for g in GPUS)
        gpu.sh(f"sudo mkdir -p {STATE} /etc/docker && echo boot-0 | sudo tee {STATE}/boot-id >/dev/null")
        gpu.state("lspci", LSPCI)
        gpu.state("gpus.csv", csv)
        gpu.state("sb-state", "SecureBoot enabled\n")
        gpu.state("kernel", repo.DEBIAN_KERNEL)
        gpu.sh(f"printf '%s' '{json.dumps(SEEDED_DAEMON_JSON)}' | sudo tee /etc/docker/daemon.json >/dev/null")
        # The distribution's own archive: Ubuntu's (for the Ubuntu path) and Debian main's kernel headers.
        for source, uri, suites, components in (
            ("standin-ubuntu", "file:///srv/mlci-standin/ubuntu", "/", ""),
            ("standin-debian-main", "file:///srv/mlci-standin/debian", "bookworm", "main"),
        ):
            text = f"Types: deb\nURIs: {uri}\nSuites: {suites}\n"
            text += f"Components: {components}\n" if components else ""
            text += f"Signed-By: {repo.KEY_FILE}\n"
            gpu.sh(f"printf '%s' '{text}' | sudo tee /etc/apt/sources.list.d/{source}.sources >/dev/null")
        host_vars = {
            "mlci_gpus": 2,
            "nvidia_container_toolkit_repo_url": "file:///srv/mlci-standin/nvidia",
            "nvidia_container_toolkit_repo_key_url": repo.KEY_FILE,
            "nvidia_container_toolkit_version": repo.TOOLKIT_VERSIONS[0],
            "nvidia_driver_debian_mirror": "file:///srv/mlci-standin/debian",
            "nvidia_driver_debian_suites": ["bookworm"],
            "nvidia_driver_debian_security_mirror": "",
            "nvidia_driver_debian_signed_by": repo.KEY_FILE,
            "nvidia_driver_kernel_release": repo.DEBIAN_KERNEL,
            # A container cannot reboot or load modules: the stand-in reboot does what a reboot does
            # for the driver (tests/infra/standin/mlci-standin-reboot), through the reboot module's
            # own reboot_command/boot_time_command, and the "kernel" reports the loaded module here.
            "nvidia_driver_reboot_command": "/usr/local/sbin/mlci-standin-reboot",
            "nvidia_driver_boot_time_command": f"cat {STATE}/boot-id",
            "nvidia_driver_module_version_file": f"{STATE}/loaded-module",
            "nvidia_gpu_inventory_local_dir": str(checkout.root / "gpu_inventory"),
        }
        (checkout.ansible_dir / "host_vars").mkdir()
        (checkout.ansible_dir / "host_vars" / f"{host.name}.yml").write_text(yaml.safe_dump(host_vars))
        yield gpu
    finally:
        infra_host.remove_host(name)


@pytest.fixture(scope="module")
def secure_boot_refusal(gpu_host):
    """Debian with Secure Boot on and no enrolled DKMS key (the state the fixture starts in)."""
    run = gpu_host.play()
    gpu_host.state("sb-state", "SecureBoot disabled\n")
    return run


@pytest.fixture(scope="module")
def ubuntu(gpu_host, secure_boot_refusal):
    """An HGX host on Ubuntu (facts overridden) with Secure Boot on, whose running kernel's signed
    modules are older than the archive's driver: a run that may not reboot, a rerun that must, and
    a third that changes nothing. Then everything is removed again."""
    gpu_host.state("sb-state", "SecureBoot enabled\n")
    gpu_host.state("kernel", repo.UBUNTU_KERNEL)
    gpu_host.state("lspci", LSPCI_HGX)
    args = ubuntu_args(repo.UBUNTU_KERNEL)
    no_reboot = gpu_host.play(*args, "-e", "nvidia_driver_skip_reboot=true")
    persistenced_before_reboot = gpu_host.daemon_user("/usr/bin/nvidia-persistenced")
    boot_before = gpu_host.sh(f"cat {STATE}/boot-id")
    rerun = gpu_host.play(*args)
    state = {
        "no_reboot": no_reboot,
        "persistenced_before_reboot": persistenced_before_reboot,
        "rerun": rerun,
        "rebooted": gpu_host.sh(f"cat {STATE}/boot-id") != boot_before,
        "third": gpu_host.play(*args),
        "installed": gpu_host.versions("*nvidia*", "linux-image-*"),
        "holds": gpu_host.holds(),
        "persistence": gpu_host.checkout.host_shell(
            "nvidia-smi --query-gpu=persistence_mode --format=csv,noheader"
        ).stdout.split(),
        "persistenced_user": gpu_host.daemon_user("/usr/bin/nvidia-persistenced"),
        "fabricmanager": gpu_host.checkout.host_shell("systemctl is-active nvidia-fabricmanager").stdout.strip(),
        "loaded": gpu_host.sh(f"cat {STATE}/loaded-module").strip(),
    }
    gpu_host.purge_driver()
    gpu_host.state("lspci", LSPCI)
    return state


@pytest.fixture(scope="module")
def ubuntu_refusals(gpu_host, ubuntu):
    """Volta GPUs on a kernel Canonical published no signed modules for; then a driver that another
    source installed (kept, only verified)."""
    gpu_host.state("lspci", LSPCI_V100)
    gpu_host.state("kernel", repo.UBUNTU_KERNEL_WITHOUT_MODULES)
    no_modules = gpu_host.play(*ubuntu_args(repo.UBUNTU_KERNEL_WITHOUT_MODULES))
    installed_after_refusal = gpu_host.versions("*nvidia*")
    gpu_host.state("lspci", LSPCI)
    gpu_host.state("kernel", repo.UBUNTU_KERNEL)
    name, version = repo.FOREIGN_DRIVER
    gpu_host.sh(f"sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q {name} >/dev/null")
    gpu_host.state("loaded-module", version.split("-")[0])
    kept = gpu_host.play(*ubuntu_args(repo.UBUNTU_KERNEL))
    state = {
        "no_modules": no_modules,
        "installed_after_refusal": installed_after_refusal,
        "kept": kept,
        "installed_when_kept": gpu_host.versions("*nvidia*"),
        "marker_when_kept": gpu_host.checkout.host_shell("test -e /etc/mlci/nvidia-driver-managed").returncode == 0,
    }
    gpu_host.purge_driver()
    gpu_host.state("sb-state", "SecureBoot disabled\n")
    gpu_host.state("kernel", repo.DEBIAN_KERNEL)
    return state


@pytest.fixture(scope="module")
def debian(gpu_host, ubuntu_refusals):
    """Debian 12: a refused branch, then three runs (install and reboot; nothing to do; nothing to do)."""
    refused = gpu_host.play("-e", "nvidia_driver_branch=550")
    refused_installed = gpu_host.versions("nvidia-kernel-dkms", "nvidia-open-kernel-dkms")
    runs = [gpu_host.play() for _ in range(3)]
    return {"refused": refused, "refused_installed": refused_installed, "runs": runs}


def test_secure_boot_without_an_enrolled_key_stops_before_installing(gpu_host, secure_boot_refusal):
    run = secure_boot_refusal
    assert run.returncode != 0
    assert "Secure Boot is enabled" in run.output and "mokutil --import /var/lib/dkms/mok.pub" in run.output
    assert "Enroll MOK" in run.output
    assert gpu_host.versions("nvidia-kernel-dkms", "nvidia-open-kernel-dkms", "nvidia-smi") == {}


def test_ubuntu_installs_the_driver_the_running_kernels_signed_modules_are_built_for(ubuntu):
    for run in ("no_reboot", "rerun", "third"):
        assert ubuntu[run].returncode == 0, ubuntu[run].output[-6000:]
    installed = ubuntu["installed"]
    # The archive's newest is 580.95.05, but kernel 6.8.0-45's modules are 580.82.07: user space follows them.
    assert installed["nvidia-headless-no-dkms-580-server-open"] == repo.UBUNTU_OLD_VERSION
    assert installed["nvidia-utils-580-server"] == repo.UBUNTU_OLD_VERSION
    assert f"linux-modules-nvidia-580-server-open-{repo.UBUNTU_KERNEL}" in installed
    assert ubuntu["loaded"] == repo.UBUNTU_OLD_VERSION.split("-")[0]
    # Not DKMS, not the proprietary modules (Hopper), not the newest kernel's modules the meta package would pull.
    assert "nvidia-dkms-580-server" not in installed
    assert f"linux-modules-nvidia-580-server-{repo.UBUNTU_KERNEL}" not in installed
    assert f"linux-modules-nvidia-580-server-open-{repo.UBUNTU_NEWER_KERNEL}" not in installed
    assert {"nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server"} <= ubuntu["holds"]


def test_ubuntu_hgx_gets_fabric_manager_at_the_drivers_version(ubuntu):
    installed = ubuntu["installed"]
    upstream = repo.UBUNTU_OLD_VERSION.split("-")[0]
    assert installed["nvidia-fabricmanager-580"] == upstream + repo.UBUNTU_FM_REVISION
    assert installed["libnvidia-nscq-580"] == upstream + repo.UBUNTU_FM_REVISION
    assert {"nvidia-fabricmanager-580", "libnvidia-nscq-580"} <= ubuntu["holds"]
    assert ubuntu["fabricmanager"] == "active"  # the stand-in refuses to start on another driver version


def test_persistence_starts_after_the_reboot_and_a_rerun_reboots(gpu_host, ubuntu):
    # The first run may not reboot: the daemon (which fails without the module) is only enabled,
    # and the play still succeeds; the rerun sees module and driver differ and reboots.
    assert "nvidia-persistenced failed to initialize" not in ubuntu["no_reboot"].output
    assert ubuntu["persistenced_before_reboot"] == ""
    assert ubuntu["rebooted"], ubuntu["rerun"].output[-6000:]
    assert "TASK [nvidia_driver : Reboot to load the installed driver]" in ubuntu["rerun"].output
    third = ubuntu["third"]
    assert third.recap(gpu_host.checkout.host.name)["changed"] == 0, third.output[-6000:]
    # Ubuntu's unit passes --no-persistence-mode; the drop-in turns persistence on and keeps --user.
    assert ubuntu["persistence"] == ["Enabled", "Enabled"]
    assert ubuntu["persistenced_user"] == "nvidia-persistenced"


def test_ubuntu_refuses_a_kernel_without_signed_modules_and_picks_proprietary_for_volta(ubuntu_refusals):
    run = ubuntu_refusals["no_modules"]
    assert run.returncode != 0
    # Volta (10de:1db4) needs the proprietary modules: the package asked for has no -open.
    assert f"Canonical publishes no linux-modules-nvidia-580-server-{repo.UBUNTU_KERNEL_WITHOUT_MODULES}" in run.output
    assert "A reboot will not help" in run.output and "Nothing was installed" in run.output
    assert "linux-image-generic linux-modules-nvidia-580-server-generic" in run.output
    assert ubuntu_refusals["installed_after_refusal"] == {}


def test_a_driver_installed_by_someone_else_is_kept_and_verified(ubuntu_refusals):
    run = ubuntu_refusals["kept"]
    assert run.returncode == 0, run.output[-6000:]
    assert "is kept and only verified" in run.output
    installed = ubuntu_refusals["installed_when_kept"]
    assert installed == {repo.FOREIGN_DRIVER[0]: repo.FOREIGN_DRIVER[1]}
    assert not ubuntu_refusals["marker_when_kept"]
    assert "TASK [nvidia_driver : Reboot to load the installed driver]" not in run.output


def test_debian_refuses_a_branch_it_does_not_ship_before_installing(debian):
    refused = debian["refused"]
    assert refused.returncode != 0
    assert "Debian bookworm ships NVIDIA driver branch 535 only, not 550" in refused.output
    assert debian["refused_installed"] == {}


def test_debian_installs_converges_and_reruns_unchanged(gpu_host, debian):
    first, second, third = debian["runs"]
    for run in (first, second, third):
        assert run.returncode == 0, run.output[-6000:]
    # Installed, rebooted (stand-in), verified after udev settled, inventory written: all on the first run.
    assert "TASK [nvidia_driver : Reboot to load the installed driver]" in first.output
    assert "TASK [nvidia_driver : Wait for udev to create the device nodes]" in first.output
    assert "TASK [nvidia_gpu_inventory : Write the GPU inventory on the host]" in first.output
    # nvidia-ctk says "Creating link" on every run, as the real one does; nothing changed.
    assert gpu_host.sh("grep -c create-dev-char-symlinks /var/log/mlci-standin-ctk.log").strip() == "3"
    for run in (second, third):
        assert run.recap(gpu_host.checkout.host.name)["changed"] == 0, run.output[-6000:]


def test_debian_sources_pin_and_running_kernel_headers(gpu_host, debian):
    sources = gpu_host.sh("cat /etc/apt/sources.list.d/mlci-debian-nonfree.sources")
    assert "Components: contrib non-free non-free-firmware" in sources
    installed = gpu_host.versions("nvidia-*", "libcuda1", "firmware-nvidia-gsp", "linux-headers-*")
    # 550 is newer and in the same sources: the branch pin decides.
    assert installed["nvidia-kernel-dkms"] == repo.DEBIAN_VERSION  # open modules are the default from 560 only
    assert "nvidia-open-kernel-dkms" not in installed
    assert installed["nvidia-smi"] == repo.DEBIAN_VERSION
    assert installed["libcuda1"] == repo.DEBIAN_VERSION
    assert installed["nvidia-persistenced"] == repo.DEBIAN_PERSISTENCED
    assert f"linux-headers-{repo.DEBIAN_KERNEL}" in installed
    assert f"linux-headers-{repo.DEBIAN_NEWER_KERNEL}" not in installed


def test_driver_and_toolkit_are_held_and_unattended_upgrades_skips_them(gpu_host, debian):
    holds = gpu_host.holds()
    assert {"nvidia-smi", "libcuda1", "nvidia-persistenced", *TOOLKIT} <= holds
    dump = gpu_host.sh("apt-config dump Unattended-Upgrade::Package-Blacklist")
    for entry in ("nvidia-", "libnvidia-", "linux-modules-nvidia-", "linux-image-"):
        assert f'"{entry}";' in dump


def test_toolkit_packages_all_at_the_pinned_version(gpu_host, debian):
    assert gpu_host.versions(*TOOLKIT) == dict.fromkeys(TOOLKIT, repo.TOOLKIT_VERSIONS[0])
    policy = gpu_host.sh("apt-cache policy libnvidia-container-tools")
    assert f"Candidate: {repo.TOOLKIT_VERSIONS[0]}" in policy  # 1.17.8-1 is there; the pin wins


def test_daemon_json_keeps_other_keys_and_gets_the_runtime(gpu_host, debian):
    options = json.loads(gpu_host.sh("cat /etc/docker/daemon.json"))
    assert options["live-restore"] is True  # an engine restart keeps running stages
    assert "docker.io" in gpu_host.holds()
    assert options["exec-opts"] == ["native.cgroupdriver=systemd"]
    assert options["features"] == {"cdi": False}
    assert options["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert options["log-driver"] == "json-file"
    assert gpu_host.sh("systemctl is-active docker").strip() == "active"
    assert "nvidia" in gpu_host.sh("sudo docker info --format '{{json .Runtimes}}'")


def test_docker_20_gets_legacy_requests_with_explicit_device_nodes(gpu_host, debian):
    # Debian's docker.io 20.10 cannot do CDI: auto chooses legacy, and the inventory records the
    # device nodes mlci run passes explicitly, so a daemon-reload cannot revoke them.
    inventory = json.loads(gpu_host.sh("cat /etc/mlci/gpus.json"))
    assert inventory["requests"] == "legacy"
    assert [g["device_node"] for g in inventory["gpus"]] == ["/dev/nvidia0", "/dev/nvidia1"]
    assert inventory["control_device_nodes"] == [
        "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"
    ]  # fmt: skip
    rule = gpu_host.sh("cat /etc/udev/rules.d/71-nvidia-dev-char.rules")
    assert "nvidia-ctk system create-dev-char-symlinks --create-all" in rule
    assert gpu_host.sh("readlink /dev/char/195:0").strip() == "/dev/nvidia0"


def test_persistence_and_inventory(gpu_host, debian):
    drop_in = gpu_host.sh("systemctl cat nvidia-persistenced")
    assert "--user nvpd --persistence-mode" in drop_in
    assert gpu_host.daemon_user("/usr/bin/nvidia-persistenced") == "nvpd"  # not root
    inventory = json.loads(gpu_host.sh("cat /etc/mlci/gpus.json"))
    assert [(g["index"], g["uuid"], g["memory_mib"], g["mig"]) for g in inventory["gpus"]] == [
        (0, GPUS[0][1], 81559, "Disabled"),
        (1, GPUS[1][1], 81559, "Disabled"),
    ]
    fetched = gpu_host.checkout.root / "gpu_inventory" / f"{gpu_host.checkout.host.name}.json"
    assert json.loads(fetched.read_text()) == inventory


def test_inventory_fails_on_a_count_mismatch_and_on_mig(gpu_host, debian):
    count = gpu_host.play("-e", "mlci_gpus=3")
    assert count.returncode != 0
    assert "has 2 GPU(s) but mlci.yaml declares 3" in count.output
    gpu_host.sh("sudo sed -i '2s/Disabled$/Enabled/' /etc/mlci-standin/gpus.csv")
    try:
        mig = gpu_host.play()
    finally:
        gpu_host.sh("sudo sed -i '2s/Enabled$/Disabled/' /etc/mlci-standin/gpus.csv")
    assert mig.returncode != 0 and "MIG is enabled on GPU(s) 1" in mig.output


def test_new_versions_stay_out_until_the_role_moves_all_four_together(gpu_host, debian):
    gpu_host.repos.build(toolkit_versions=(*repo.TOOLKIT_VERSIONS, "1.17.9-1"), debian_extra=("535.261.03-1~deb12u1",))
    ssh = ["ssh", "-F", str(gpu_host.checkout.host.ssh_config), gpu_host.checkout.host.name]
    repo.copy_to_host(gpu_host.repos, ssh)
    gpu_host.sh("sudo apt-get update -q >/dev/null")
    upgrade = gpu_host.sh("sudo apt-get -s dist-upgrade")
    assert "Inst nvidia" not in upgrade and "Inst libnvidia" not in upgrade and "Inst libcuda1" not in upgrade
    run = gpu_host.play("-e", f"nvidia_container_toolkit_version={repo.TOOLKIT_VERSIONS[1]}")
    assert run.returncode == 0, run.output[-6000:]
    assert gpu_host.versions(*TOOLKIT) == dict.fromkeys(TOOLKIT, repo.TOOLKIT_VERSIONS[1])
    assert set(TOOLKIT) <= gpu_host.holds()


MAINTENANCE_STAND_IN = """set -e
sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >/dev/null
rootfs=$(mktemp -d)
mkdir -p "$rootfs/bin"
cp /bin/busybox "$rootfs/bin/busybox"
sudo tar -C "$rootfs" -c . | sudo docker import - mlci-test/busybox:stage >/dev/null
rm -rf "$rootfs"
sudo docker run -d --name mlci-stage-running --label mlci.job=jenkins-7-vision mlci-test/busybox:stage \
  /bin/busybox sleep 600 >/dev/null
"""


def test_gpu_maintenance_refuses_while_an_mlci_stage_runs(gpu_host, debian):
    gpu_host.sh(MAINTENANCE_STAND_IN)
    try:
        before = gpu_host.versions("nvidia-smi", *TOOLKIT)
        run = gpu_host.checkout.playbook("-e", "gpu_maintenance_drain_seconds=1", playbook="gpu-maintenance.yml")
        assert run.returncode != 0
        assert "mlci stages are still running" in run.output and "nothing was upgraded" in run.output
        assert gpu_host.versions("nvidia-smi", *TOOLKIT) == before
    finally:
        gpu_host.sh("sudo docker rm -f mlci-stage-running >/dev/null")


def test_site_proves_a_gpu_container_after_the_base_image_exists():
    """The smoke check runs in the play that builds the base image, after it: on the first run."""
    plays = yaml.safe_load((ANSIBLE_DIR / "site.yml").read_text())
    builders = next(p for p in plays if any(r.get("role") == "mlci_host" for r in p.get("roles", [])))
    smoke = [
        t
        for t in builders.get("post_tasks", [])
        if t.get("ansible.builtin.include_role", {}).get("tasks_from") == "smoke.yml"
    ]
    assert smoke, builders
    toolkit_main = (ANSIBLE_DIR / "roles/nvidia_container_toolkit/tasks/install.yml").read_text()
    assert "docker run" not in toolkit_main  # no longer before the image exists
    probe = (ANSIBLE_DIR / "roles/nvidia_container_toolkit/vars/main.yml").read_text()
    assert "cuInit" in probe and "cuMemAlloc_v2" in probe  # CUDA initialised, not just nvidia-smi -L
