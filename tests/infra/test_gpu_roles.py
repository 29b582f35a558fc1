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
        for tool in ("lspci", "mokutil"):
            gpu.sh(
                f"sudo tee /usr/local/bin/{tool} >/dev/null <<'EOF'\n{(standin / tool).read_text()}EOF\nsudo chmod 755 /usr/local/bin/{tool}"
            )
        csv = "".join(",".join(g) + "\n" for g in GPUS)
        gpu.sh(
            "sudo mkdir -p /etc/mlci-standin /etc/docker && "
            f"printf '%s' '{LSPCI}' | sudo tee /etc/mlci-standin/lspci >/dev/null && "
            f"printf '%s' '{csv}' | sudo tee /etc/mlci-standin/gpus.csv >/dev/null && "
            "echo 'SecureBoot enabled' | sudo tee /etc/mlci-standin/sb-state >/dev/null && "
            f"printf '%s' '{json.dumps(SEEDED_DAEMON_JSON)}' | sudo tee /etc/docker/daemon.json >/dev/null"
        )
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
            "nvidia_driver_skip_reboot": True,  # a container cannot reboot; the check runs on the next run
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
    gpu_host.sh("echo 'SecureBoot disabled' | sudo tee /etc/mlci-standin/sb-state")
    return run


@pytest.fixture(scope="module")
def ubuntu(gpu_host, secure_boot_refusal):
    """The Ubuntu path (distribution facts overridden) with Secure Boot on, then removed again."""
    gpu_host.sh("echo 'SecureBoot enabled' | sudo tee /etc/mlci-standin/sb-state")
    run = gpu_host.play(
        "-e", "nvidia_driver_distribution=Ubuntu",
        "-e", f"nvidia_driver_kernel_release={repo.UBUNTU_KERNEL}",
        "-e", "nvidia_container_toolkit_enabled=false",
        "-e", "nvidia_gpu_inventory_enabled=false",
    )  # fmt: skip
    state = {
        "run": run,
        "installed": gpu_host.versions("*nvidia*", "linux-image-*"),
        "holds": gpu_host.holds(),
        "persistence": gpu_host.checkout.host_shell(
            "nvidia-smi --query-gpu=persistence_mode --format=csv,noheader"
        ).stdout.split(),
    }
    gpu_host.sh(
        "sudo systemctl stop nvidia-persistenced; sudo apt-mark unhold $(apt-mark showhold) >/dev/null;"
        " sudo DEBIAN_FRONTEND=noninteractive apt-get purge -y -q '~n^nvidia-' '~n^libnvidia-' '~n^linux-modules-nvidia-'"
        " '~n^linux-image-' >/dev/null && echo 'SecureBoot disabled' | sudo tee /etc/mlci-standin/sb-state"
    )
    return state


@pytest.fixture(scope="module")
def debian(gpu_host, ubuntu):
    """Debian 12: a refused branch, then three runs (install; verify + inventory; nothing to do)."""
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


def test_ubuntu_gets_signed_precompiled_open_modules_for_the_running_kernel(ubuntu):
    run = ubuntu["run"]
    assert run.returncode == 0, run.output[-6000:]
    installed = ubuntu["installed"]
    assert installed["nvidia-headless-no-dkms-580-server-open"] == repo.UBUNTU_VERSION
    assert f"linux-modules-nvidia-580-server-open-{repo.UBUNTU_KERNEL}" in installed
    # Not DKMS, not the proprietary modules, not the newest kernel's modules the meta package would pull.
    assert "nvidia-dkms-580-server" not in installed
    assert f"linux-modules-nvidia-580-server-{repo.UBUNTU_KERNEL}" not in installed
    assert f"linux-modules-nvidia-580-server-open-{repo.UBUNTU_NEWER_KERNEL}" not in installed
    assert {"nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server"} <= ubuntu["holds"]
    # Ubuntu's unit passes --no-persistence-mode; the role's drop-in turns persistence on.
    assert ubuntu["persistence"] == ["Enabled", "Enabled"]


def test_debian_refuses_a_branch_it_does_not_ship_before_installing(debian):
    refused = debian["refused"]
    assert refused.returncode != 0
    assert "Debian bookworm ships NVIDIA driver branch 535 only, not 550" in refused.output
    assert debian["refused_installed"] == {}


def test_debian_installs_converges_and_reruns_unchanged(gpu_host, debian):
    first, second, third = debian["runs"]
    for run in (first, second, third):
        assert run.returncode == 0, run.output[-6000:]
    assert "TASK [nvidia_gpu_inventory : Write the GPU inventory on the host]" in second.output
    assert third.recap(gpu_host.checkout.host.name)["changed"] == 0, third.output[-6000:]


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
    assert options["exec-opts"] == ["native.cgroupdriver=systemd"]
    assert options["features"] == {"cdi": False}
    assert options["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime"
    assert options["log-driver"] == "json-file"
    assert gpu_host.sh("systemctl is-active docker").strip() == "active"
    assert "nvidia" in gpu_host.sh("sudo docker info --format '{{json .Runtimes}}'")


def test_legacy_mode_installs_the_dev_char_mitigation(gpu_host, debian):
    rule = gpu_host.sh("cat /etc/udev/rules.d/71-nvidia-dev-char.rules")
    assert "nvidia-ctk system create-dev-char-symlinks --create-all" in rule


def test_persistence_and_inventory(gpu_host, debian):
    drop_in = gpu_host.sh("systemctl cat nvidia-persistenced")
    assert "--persistence-mode" in drop_in
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
