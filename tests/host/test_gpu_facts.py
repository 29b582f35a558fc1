"""Reading a GPU host: real texts of nvidia-smi, /proc/driver/nvidia/version, sysfs, nv-fabricmanager,
and the real dpkg-query and apt-config over the test's package database and apt configuration."""

from __future__ import annotations

import pytest

from mlci.host import gpu_facts
from tests.host.fake_host import (
    H100,
    PROC_OLD,
    PROC_OPEN_580,
    PROC_OPEN_ARM,
    PROC_PROPRIETARY_535,
    UUIDS,
    FakeHost,
    smi_rows,
)


@pytest.mark.parametrize(
    ("text", "version"),
    [
        (PROC_OPEN_580, "580.95.05"),
        (PROC_PROPRIETARY_535, "535.216.01"),
        (PROC_OPEN_ARM, "580.65.06"),
        (PROC_OLD, "515.76"),
        ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64 580.105.08", "580.105.08"),
        ("GCC version:  gcc version 13.3.0\n", None),
        (None, None),
    ],
)
def test_module_version_of_real_drivers(text, version):
    assert gpu_facts.module_version(text) == version


def test_nvidia_smi_query_is_parsed_as_the_real_tool_prints_it(tmp_path):
    host = FakeHost(tmp_path)
    host.nvidia_smi(smi_rows())
    smi = gpu_facts.query_smi(host)
    assert host.calls == [["nvidia-smi", f"--query-gpu={gpu_facts.SMI_QUERY}", "--format=csv,noheader"]]
    assert [(g.index, g.uuid, g.name, g.driver, g.persistence) for g in smi.gpus] == [
        (0, UUIDS[0], H100, "580.95.05", "Enabled"),
        (1, UUIDS[1], H100, "580.95.05", "Enabled"),
    ]
    assert smi.gpus[1].pci_bus_id == "00000000:38:00.0"


def test_nvidia_smi_failure_keeps_nvml_s_message(tmp_path):
    host = FakeHost(tmp_path)
    host.nvidia_smi(
        error="Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 580.95\n", code=18
    )
    smi = gpu_facts.query_smi(host)
    assert smi.installed and not smi.gpus and smi.returncode == 18
    assert smi.error == "Failed to initialize NVML: Driver/library version mismatch; NVML library version: 580.95"
    assert not gpu_facts.query_smi(FakeHost(tmp_path)).installed


def test_userspace_versions_from_the_library_names(tmp_path):
    host = FakeHost(tmp_path)
    host.driver_files(PROC_OPEN_580, "580.95.05", arch="aarch64-linux-gnu")
    host.files["/usr/lib/aarch64-linux-gnu/libnvidia-ml.so"] = ""  # the dev link carries no version
    assert gpu_facts.userspace_versions(host) == {"libnvidia-ml": "580.95.05", "libcuda": "580.95.05"}


def test_pci_scan_counts_gpus_and_nvswitches(tmp_path):
    host = FakeHost(tmp_path)
    for i in range(8):
        host.pci(f"0000:{0x18 + i:02x}:00.0", "0x10de", "0x030200")  # H100 SXM: 3D controller
    for i in range(4):
        host.pci(f"0000:{0x05 + i:02x}:00.0", "0x10de", "0x068000")  # NVSwitch: other bridge
    host.pci("0000:00:02.0", "0x8086", "0x030000")  # an Intel VGA controller is no NVIDIA GPU
    host.pci("0000:18:00.1", "0x10de", "0x040300")  # a GPU's audio function neither
    assert gpu_facts.scan_pci(host) == gpu_facts.Pci(gpus=8, nvswitches=4)


def test_fabric_manager_version():
    assert gpu_facts.fabric_manager_version("\n\n\tFabric Manager version is : 535.161.08\n\n") == "535.161.08"
    assert gpu_facts.fabric_manager_version("nv-fabricmanager: command not found") is None


def test_packages_and_holds_from_real_dpkg_query(tmp_path):
    host = FakeHost(tmp_path)
    host.dpkg(
        {
            "nvidia-utils-580-server": "hold ok installed",
            "libnvidia-compute-580-server": "install ok installed",
            "nvidia-container-toolkit": "hold ok installed",
            "libcuda1": "hold ok installed",
            "nvidia-dkms-535": "deinstall ok config-files",
            "libcuda1-dbg": "install ok installed",
            "openssh-server": "install ok installed",
        }
    )
    packages = gpu_facts.installed_packages(host)
    driver = {p.name: p.held for p in gpu_facts.driver_packages(packages)}
    assert driver == {
        "nvidia-utils-580-server": True,
        "libnvidia-compute-580-server": False,
        "nvidia-container-toolkit": True,
        "libcuda1": True,
    }  # removed packages and names the role's pattern does not hold (libcuda1-dbg) are not driver packages
    assert gpu_facts.installed_packages(FakeHost(tmp_path)) is None  # no dpkg


def test_blacklist_from_real_apt_config_matches_as_unattended_upgrades_does(tmp_path):
    host = FakeHost(tmp_path)
    host.apt_config('Unattended-Upgrade::Package-Blacklist { "nvidia-"; "libcuda1$"; "(lib"; };\n')
    blacklist = gpu_facts.apt_blacklist(host)
    assert blacklist == ["nvidia-", "libcuda1$", "(lib"]
    # re.match: anchored at the start only, so "nvidia-" covers nvidia-utils but not libnvidia-ml1
    assert gpu_facts.blacklisted("nvidia-utils-580-server", blacklist)
    assert not gpu_facts.blacklisted("libnvidia-ml1", blacklist)
    assert gpu_facts.blacklisted("libcuda1", blacklist) and not gpu_facts.blacklisted("libcuda1-dbg", blacklist)
    assert gpu_facts.apt_blacklist(FakeHost(tmp_path)) is None


def test_inventory_as_the_role_writes_it(tmp_path):
    host = FakeHost(tmp_path)
    host.files["/etc/mlci/gpus.json"] = (
        '{\n  "host": "gpu-01",\n  "requests": "cdi",\n  "gpus": [\n'
        f'    {{"index": 1, "uuid": "{UUIDS[1]}", "name": "{H100}", "memory_mib": 81559, "mig": "Disabled",'
        ' "pci_bus_id": "00000000:38:00.0"},\n'
        f'    {{"index": 0, "uuid": "{UUIDS[0]}", "name": "{H100}", "memory_mib": 81559, "mig": "Disabled",'
        ' "pci_bus_id": "00000000:18:00.0"}\n  ]\n}\n'
    )
    inventory = gpu_facts.read_inventory(host, "/etc/mlci/gpus.json")
    assert inventory == gpu_facts.Inventory(((0, UUIDS[0]), (1, UUIDS[1])), "cdi")
    host.files["/etc/mlci/gpus.json"] = '{"gpus": [{"index": "x"}]}'
    assert gpu_facts.read_inventory(host, "/etc/mlci/gpus.json").error
    assert gpu_facts.read_inventory(host, "/nonexistent") is None


def test_cdi_device_names_from_the_spec(tmp_path):
    host = FakeHost(tmp_path)
    host.files["/etc/cdi/nvidia.yaml"] = (
        "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n"
        f'- name: "0"\n  containerEdits: {{deviceNodes: [{{path: /dev/nvidia0}}]}}\n'
        f"- name: {UUIDS[0]}\n  containerEdits: {{deviceNodes: [{{path: /dev/nvidia0}}]}}\n"
        "- name: all\n  containerEdits: {deviceNodes: [{path: /dev/nvidia0}]}\n"
        "containerEdits: {env: [NVIDIA_VISIBLE_DEVICES=void]}\n"
    )
    host.files["/var/run/cdi/other.yaml"] = "cdiVersion: 0.5.0\nkind: example.com/fpga\ndevices: []\n"
    host.files["/var/run/cdi/broken.yaml"] = "kind: [\n"
    assert gpu_facts.cdi_devices(host, gpu_facts.DEFAULT_CDI_DIRS) == {"/etc/cdi/nvidia.yaml": ["0", UUIDS[0], "all"]}
