"""The smoke check's verdicts on hosts built from real texts (tests/host/fake_host.py), and the
command itself on this machine, which has no GPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jinja2.nativetypes import NativeEnvironment

from mlci.host import gpu_docker, gpu_facts, gpu_smoke
from mlci.host.gpu_docker import StageOutcome
from mlci.host.gpu_smoke import FAIL, NA, PASS, Options
from tests.host.fake_host import PROC_OPEN_580, UUIDS, FakeHost, smi_rows

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "ansible" / "roles" / "nvidia_driver"
INVENTORY = "/etc/mlci/gpus.json"
UBUNTU_580 = [
    "nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server", "nvidia-kernel-common-580-server",
    "nvidia-compute-utils-580-server", "libnvidia-compute-580-server", "libnvidia-cfg1-580-server",
    "nvidia-firmware-580-server-580.95.05", "linux-modules-nvidia-580-server-open-6.8.0-86-generic",
    "nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools", "libnvidia-container1",
]  # fmt: skip
DEBIAN_535 = [
    "nvidia-kernel-dkms", "nvidia-smi", "libcuda1", "nvidia-persistenced", "firmware-nvidia-gsp",
    "libnvidia-ml1", "nvidia-kernel-support", "nvidia-alternative",
]  # fmt: skip


def role_blacklist_file() -> str:
    """/etc/apt/apt.conf.d/51mlci-nvidia-driver exactly as the nvidia_driver role writes it with its defaults."""
    tasks = yaml.safe_load((ROLE / "tasks" / "hold.yml").read_text())
    task = next(t for t in tasks if t.get("ansible.builtin.copy", {}).get("dest") == gpu_facts.MLCI_APT_BLACKLIST)
    env = NativeEnvironment()
    env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).lower() in ("true", "yes", "1")
    values = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    for name, expression in task.get("vars", {}).items():
        values[name] = env.from_string(expression).render(values)
    return env.from_string(task["ansible.builtin.copy"]["content"]).render(values)


def gpu_host(tmp_path) -> FakeHost:
    """A healthy bare GPU machine: two H100s, driver 580 loaded and installed, persistence on."""
    host = FakeHost(tmp_path)
    host.nvidia_smi(smi_rows())
    host.driver_files(PROC_OPEN_580, "580.95.05")
    host.pci("0000:18:00.0", "0x10de", "0x030200")
    host.pci("0000:38:00.0", "0x10de", "0x030200")
    return host


def by_name(report: gpu_smoke.Report) -> dict[str, gpu_smoke.Result]:
    return {r.name: r for r in report.results}


def no_docker():
    raise AssertionError("Docker is absent on this host: the check must not try to connect")


def smoke(host, connect=no_docker, **options) -> gpu_smoke.Report:
    return gpu_smoke.run_smoke(host, connect, Options(image="mlci/python:3.11-bookworm", **options))


# ---------------------------------------------------------------- a bare GPU machine: only the driver
def test_bare_gpu_machine_runs_what_applies_and_says_what_it_skipped(tmp_path):
    report = smoke(gpu_host(tmp_path))
    results = by_name(report)
    assert results["driver"].status == PASS and "2 × NVIDIA H100 80GB HBM3" in results["driver"].detail
    assert results["kernel module = user-space driver"].status == PASS
    assert (
        "kernel module 580.95.05, libcuda 580.95.05, libnvidia-ml 580.95.05"
        in results["kernel module = user-space driver"].detail
    )
    assert results["persistence mode"].status == PASS
    assert (
        results["fabric manager"].line()
        == "n/a   fabric manager: no NVSwitch on this host (no NVIDIA PCI function of class 0680): not needed"
    )
    assert results["apt holds"].detail == "no dpkg: not a Debian or Ubuntu host"
    assert results["docker"].status == NA and "Docker is not installed" in results["docker"].detail
    for name in ("container toolkit", "container by UUID", "CUDA in a container", "stage limits", "daemon-reload"):
        assert results[name].status == NA and "Docker is not installed" in results[name].detail, name
    assert results["gpus.json"].status == NA
    assert report.exit_code == gpu_smoke.EXIT_OK
    lines = report.lines()
    assert lines[0].startswith("mlci GPU smoke check on ")
    assert lines[-1] == "result: 3 pass, 0 fail, 10 n/a"
    assert len(lines) == len(report.results) + 2  # one line per check


def test_a_provisioned_host_without_docker_fails(tmp_path):
    host = gpu_host(tmp_path)
    host.files[INVENTORY] = json.dumps(
        {"requests": "legacy", "gpus": [{"index": i, "uuid": u} for i, u in enumerate(UUIDS)]}
    )
    report = smoke(host)
    results = by_name(report)
    assert results["docker"].status == FAIL and results["container by UUID"].status == FAIL
    assert results["gpus.json"].status == PASS
    assert report.exit_code == gpu_smoke.EXIT_FAILED


def test_no_gpu_here_is_its_own_exit_status(tmp_path):
    host = FakeHost(tmp_path)
    host.pci("0000:00:02.0", "0x8086", "0x030000")
    report = smoke(host)
    assert report.no_gpu and report.exit_code == gpu_smoke.EXIT_NO_GPU == 3
    assert report.lines()[-1] == "result: no NVIDIA GPU on this host: nothing to check (exit status 3)"
    assert [r.status for r in report.results] == [NA]
    expected = smoke(host, expect_gpus=2)
    assert expected.exit_code == gpu_smoke.EXIT_FAILED and "but 2 expected" in expected.results[0].detail


def test_a_gpu_on_the_bus_without_a_driver_is_a_failure_not_no_gpu(tmp_path):
    host = FakeHost(tmp_path)
    host.pci("0000:18:00.0", "0x10de", "0x030200")
    report = smoke(host)
    results = by_name(report)
    assert not report.no_gpu and report.exit_code == gpu_smoke.EXIT_FAILED
    assert results["driver"].detail == "nvidia-smi is not installed; the PCI bus has 1 NVIDIA GPU(s)"
    assert "kernel module is not loaded" in results["kernel module = user-space driver"].detail


# ---------------------------------------------------------------- the driver
def test_module_older_than_the_libraries(tmp_path):
    host = gpu_host(tmp_path)
    host.files["/proc/driver/nvidia/version"] = PROC_OPEN_580.replace("580.95.05", "580.82.07")
    host.nvidia_smi(
        error="Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 580.95\n", code=18
    )
    results = by_name(smoke(host))
    assert results["driver"].status == FAIL and "Driver/library version mismatch" in results["driver"].detail
    assert "reboot" in results["driver"].fix
    versions = results["kernel module = user-space driver"]
    assert versions.status == FAIL
    assert versions.detail == "kernel module 580.82.07, but NVML 580.95, libcuda 580.95.05, libnvidia-ml 580.95.05"
    assert "linux-modules-nvidia" in versions.fix
    assert results["persistence mode"].status == NA  # nothing listed to judge


def test_expected_count_and_persistence(tmp_path):
    host = gpu_host(tmp_path)
    rows = smi_rows()
    rows[1]["persistence_mode"] = "Disabled"
    host.nvidia_smi(rows)
    results = by_name(smoke(host, expect_gpus=3))
    assert results["driver"].status == FAIL and results["driver"].detail.endswith("but 3 expected")
    assert results["persistence mode"].line().startswith("fail  persistence mode: off on GPU 1 — fix: sudo systemctl")


@pytest.mark.parametrize(
    ("state", "version", "status", "words"),
    [
        (("inactive", 3), "580.95.05", FAIL, "nvidia-fabricmanager inactive"),
        (("active", 0), "580.82.07", FAIL, "version 580.82.07, driver 580.95.05"),
        (("active", 0), None, FAIL, "version unknown"),
        (
            ("active", 0),
            "580.95.05",
            PASS,
            "4 NVSwitch(es); nvidia-fabricmanager active, version 580.95.05 (the driver's)",
        ),
    ],
)
def test_fabric_manager_where_nvswitches_are(tmp_path, state, version, status, words):
    host = gpu_host(tmp_path)
    for i in range(4):
        host.pci(f"0000:{0x05 + i:02x}:00.0", "0x10de", "0x068000")
    host.program(
        "systemctl", {("systemctl", "is-active", "nvidia-fabricmanager"): gpu_facts.Ran(state[1], state[0] + "\n")}
    )
    if version:
        host.program(
            "nv-fabricmanager",
            {("nv-fabricmanager", "--version"): gpu_facts.Ran(0, f"Fabric Manager version is : {version}\n")},
        )
    result = by_name(smoke(host))["fabric manager"]
    assert result.status == status and words in result.detail


# ---------------------------------------------------------------- holds and unattended-upgrades, as the role sets them up
@pytest.mark.parametrize("packages", [UBUNTU_580, DEBIAN_535], ids=["ubuntu-580", "debian-535"])
def test_the_role_s_holds_and_blacklist_pass(tmp_path, packages):
    host = gpu_host(tmp_path)
    host.dpkg({**{p: "hold ok installed" for p in packages}, "unattended-upgrades": "install ok installed"})
    content = role_blacklist_file()
    host.files[gpu_facts.MLCI_APT_BLACKLIST] = content
    host.apt_config(content)
    results = by_name(smoke(host))
    assert results["apt holds"].status == PASS, results["apt holds"].detail
    assert results["apt holds"].detail == f"all {len(packages)} driver and toolkit packages held"
    assert results["unattended-upgrades blacklist"].status == PASS, results["unattended-upgrades blacklist"].detail


def test_unheld_or_unlisted_driver_packages_fail_where_mlci_manages_the_driver(tmp_path):
    host = gpu_host(tmp_path)
    host.dpkg({
        **{p: "hold ok installed" for p in UBUNTU_580},
        "libnvidia-compute-580-server": "install ok installed",
        "unattended-upgrades": "install ok installed",
    })  # fmt: skip
    host.files[gpu_facts.MLCI_APT_BLACKLIST] = role_blacklist_file()
    host.apt_config('Unattended-Upgrade::Package-Blacklist { "nvidia-"; };\n')  # an administrator's own, shorter list
    results = by_name(smoke(host))
    assert (
        results["apt holds"].status == FAIL and results["apt holds"].detail == "not held: libnvidia-compute-580-server"
    )
    assert results["apt holds"].fix.startswith("sudo apt-mark hold libnvidia-compute-580-server")
    blacklist = results["unattended-upgrades blacklist"]
    assert blacklist.status == FAIL
    assert blacklist.detail.startswith(
        "unattended-upgrades may upgrade: libnvidia-cfg1-580-server, libnvidia-compute-580-server,"
    )
    assert "nvidia-utils" not in blacklist.detail  # "nvidia-" covers it (re.match)


def test_a_driver_mlci_does_not_manage_is_reported_not_failed(tmp_path):
    host = gpu_host(tmp_path)
    host.dpkg({"nvidia-driver-580": "install ok installed", "unattended-upgrades": "install ok installed"})
    host.apt_config("")
    results = by_name(smoke(host))
    assert results["apt holds"].status == NA and "not held: nvidia-driver-580" in results["apt holds"].detail
    assert results["unattended-upgrades blacklist"].status == NA


def test_without_unattended_upgrades_nothing_upgrades_the_driver(tmp_path):
    host = gpu_host(tmp_path)
    host.dpkg({p: "hold ok installed" for p in DEBIAN_535})
    assert by_name(smoke(host))["unattended-upgrades blacklist"].detail.startswith(
        "unattended-upgrades is not installed"
    )


# ---------------------------------------------------------------- gpus.json
def test_inventory_against_nvidia_smi(tmp_path):
    host = gpu_host(tmp_path)
    host.files[INVENTORY] = json.dumps(
        {"requests": "legacy", "gpus": [{"index": 0, "uuid": UUIDS[1]}, {"index": 1, "uuid": UUIDS[0]}]}
    )
    result = by_name(smoke(host, connect=lambda: (_ for _ in ()).throw(OSError("no engine"))))["gpus.json"]
    assert result.status == FAIL
    assert result.detail == f"nvidia-smi lists 0={UUIDS[0]}, 1={UUIDS[1]}, {INVENTORY} has 0={UUIDS[1]}, 1={UUIDS[0]}"


# ---------------------------------------------------------------- the toolkit's mode
def _engine(cdi_dirs=(), runtimes=("runc",), driver="systemd"):
    return gpu_docker.Engine("27.3.1", "1.47", driver, "2", runtimes, "runc", tuple(cdi_dirs))


def test_cdi_mode_needs_cdi_on_and_a_spec_naming_every_gpu(tmp_path):
    host = gpu_host(tmp_path)
    smi = gpu_facts.query_smi(host)
    off = gpu_smoke.Docker(client=object(), engine=_engine())
    assert gpu_smoke._toolkit(host, off, True, smi, True).detail == "gpus.json says CDI, but Docker has CDI off"
    assert off.failed and off.skip == "CDI is not enabled in Docker"
    host.files["/etc/cdi/nvidia.yaml"] = (
        f"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: '0'\n- name: {UUIDS[0]}\n- name: all\n"
    )
    partial = gpu_smoke.Docker(client=object(), engine=_engine(["/etc/cdi", "/var/run/cdi"]))
    result = gpu_smoke._toolkit(host, partial, True, smi, True)
    assert result.status == FAIL and result.detail == f"CDI mode; specs /etc/cdi/nvidia.yaml lack {UUIDS[1]}"
    host.files["/var/run/cdi/nvidia.yaml"] = f"cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: {UUIDS[1]}\n"
    full = gpu_smoke.Docker(client=object(), engine=_engine(["/etc/cdi", "/var/run/cdi"]))
    assert gpu_smoke._toolkit(host, full, True, smi, True).status == PASS and not full.skip


def test_legacy_mode_needs_the_nvidia_runtime(tmp_path):
    host = gpu_host(tmp_path)
    smi = gpu_facts.query_smi(host)
    registered = gpu_smoke.Docker(client=object(), engine=_engine(runtimes=("nvidia", "runc")))
    result = gpu_smoke._toolkit(host, registered, False, smi, False)
    assert result.status == PASS and "daemon-reload" in result.detail  # systemd driver: the hazard is named
    host.program("nvidia-ctk", {})
    unregistered = gpu_smoke.Docker(client=object(), engine=_engine())
    result = gpu_smoke._toolkit(host, unregistered, False, smi, False)
    assert (
        result.status == FAIL
        and result.detail == "the NVIDIA Container Toolkit is installed but not registered with Docker"
    )


# ---------------------------------------------------------------- verdicts on what containers reported
GOOD = {"nodes": ["nvidia0"], "init": 0, "init_name": "CUDA_SUCCESS", "count_result": 0,
        "devices": [{"ordinal": 0, "get": 0, "uuid": UUIDS[0], "ctx": 0, "ctx_name": "CUDA_SUCCESS", "alloc": 0, "alloc_name": "CUDA_SUCCESS"}]}  # fmt: skip


def test_cuda_verdicts():
    assert gpu_smoke.cuda_verdict(GOOD) == (
        True,
        "cuInit, cuCtxCreate and a 64 MiB cuMemAlloc succeeded on 1 device(s)",
    )
    assert gpu_smoke.cuda_verdict(GOOD, [UUIDS[1]])[0] is False
    no_fm = {"nodes": ["nvidia0"], "init": 802, "init_name": "CUDA_ERROR_SYSTEM_NOT_READY", "devices": []}
    ok, detail = gpu_smoke.cuda_verdict(no_fm)
    assert not ok and detail == "cuInit returned 802 CUDA_ERROR_SYSTEM_NOT_READY"
    assert "fabricmanager" in gpu_smoke.cuda_fix(detail)
    no_lib = {
        "nodes": [],
        "devices": [],
        "error": "libcuda.so.1 is not in the container (libcuda.so.1: cannot open shared object file: No such file or directory)",
    }
    assert "nvidia-ctk runtime configure" in gpu_smoke.cuda_fix(gpu_smoke.cuda_verdict(no_lib)[1])
    oom = {**GOOD, "devices": [{**GOOD["devices"][0], "alloc": 2, "alloc_name": "CUDA_ERROR_OUT_OF_MEMORY"}]}
    assert gpu_smoke.cuda_verdict(oom) == (False, "cuMemAlloc on device 0 returned 2 CUDA_ERROR_OUT_OF_MEMORY")


LIMITS = {"shm_bytes": 8 << 30, "memlock": "unlimited", "stack": 64 << 20, "gpu_uuids": ",".join(UUIDS), "cuda_device_order": "PCI_BUS_ID"}  # fmt: skip


def test_stage_limits_verdicts():
    good = gpu_smoke.stage_limits_result(StageOutcome(0, limits=LIMITS), UUIDS)
    assert good.status == PASS
    assert good.detail == f"/dev/shm 8 GiB, memlock unlimited, stack 64 MiB, MLCI_GPU_UUIDS={','.join(UUIDS)}"
    small = gpu_smoke.stage_limits_result(
        StageOutcome(0, limits={**LIMITS, "shm_bytes": 64 << 20, "memlock": 8388608}), UUIDS
    )
    assert (
        small.status == FAIL
        and "shm_bytes 67108864 (want 8589934592)" in small.detail
        and "memlock 8388608" in small.detail
    )
    wrong = gpu_smoke.stage_limits_result(StageOutcome(0, limits={**LIMITS, "gpu_uuids": UUIDS[0]}), UUIDS)
    assert wrong.status == FAIL and "gpu_uuids" in wrong.detail
    silent = gpu_smoke.stage_limits_result(StageOutcome(1, log_tail="python3: not found"), UUIDS)
    assert silent.status == FAIL and "python3: not found" in silent.detail


def test_daemon_reload_verdicts():
    reload = ["systemctl", "daemon-reload"]
    kept = gpu_smoke.reload_result(StageOutcome(0, before=GOOD, after=GOOD, reload=""), reload, "", [])
    assert kept.status == PASS
    lost = {"nodes": ["nvidia0"], "init": 999, "init_name": "CUDA_ERROR_UNKNOWN", "devices": []}
    revoked = gpu_smoke.reload_result(StageOutcome(0, before=GOOD, after=lost, reload=""), reload, "", ["train-1"])
    assert (
        revoked.status == FAIL
        and "lost its GPUs: cuInit returned 999" in revoked.detail
        and "train-1" in revoked.detail
    )
    assert "cdi" in revoked.fix
    skipped = gpu_smoke.reload_result(StageOutcome(0, before=GOOD, after=GOOD, reload=""), None, "needs root", [])
    assert skipped.status == NA and skipped.detail == "skipped: needs root"
    broken_before = gpu_smoke.reload_result(StageOutcome(0, before=lost, after=lost, reload=""), reload, "", [])
    assert broken_before.status == NA


def test_reload_is_safe_by_default(tmp_path):
    host = FakeHost(tmp_path)
    assert gpu_smoke.reload_plan(host, [], False) == (None, "systemd is not running here: nothing reloads it")
    host.dirs.add("/run/systemd/system")
    assert gpu_smoke.reload_plan(host, [], False) == (["systemctl", "daemon-reload"], "")
    command, why = gpu_smoke.reload_plan(host, ["train-a", "train-b"], False)
    assert command is None and "train-a, train-b" in why and "--allow-disruptive" in why
    assert gpu_smoke.reload_plan(host, ["train-a"], True)[0] == ["systemctl", "daemon-reload"]
    host.root = False
    assert gpu_smoke.reload_plan(host, [], False)[1].startswith("systemctl daemon-reload needs root")
    host.program("sudo", {("sudo", "-n", "true"): gpu_facts.Ran(0, "")})
    assert gpu_smoke.reload_plan(host, [], False)[0] == ["sudo", "-n", "systemctl", "daemon-reload"]


def test_json_report(tmp_path):
    data = smoke(gpu_host(tmp_path)).as_json()
    assert data["exitCode"] == 0 and data["noGpu"] is False
    assert [g["uuid"] for g in data["gpus"]] == UUIDS
    assert {c["status"] for c in data["checks"]} == {PASS, NA}
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in data["checks"])


# ---------------------------------------------------------------- the real command on this machine
def _gpu_signs() -> bool:
    host = gpu_facts.RealHost()
    return bool(shutil.which("nvidia-smi") or os.path.exists(gpu_facts.PROC_VERSION) or gpu_facts.scan_pci(host).gpus)


def test_the_command_on_this_machine(tmp_path):
    env = {**os.environ, "MLCI_GPU_INVENTORY": str(tmp_path / "absent.json")}
    text = subprocess.run(
        [sys.executable, "-m", "mlci", "doctor", "--gpu-smoke"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    data = subprocess.run(
        [sys.executable, "-m", "mlci", "doctor", "--gpu-smoke", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    report = json.loads(data.stdout)
    assert data.returncode == text.returncode == report["exitCode"]
    if _gpu_signs():  # a GPU machine: every check ran and reported
        assert text.returncode in (0, 1) and len(report["checks"]) == 13, text.stdout
    else:
        assert text.returncode == 3, text.stdout + text.stderr
        assert "n/a   driver: no NVIDIA GPU on this host" in text.stdout
        assert text.stdout.splitlines()[-1] == "result: no NVIDIA GPU on this host: nothing to check (exit status 3)"
        assert report["noGpu"] is True and report["checks"][0]["status"] == NA


def test_smoke_options_need_gpu_smoke(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "doctor", "--json"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2 and "go with --gpu-smoke" in done.stderr
