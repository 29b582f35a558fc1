"""`mlci doctor`'s GPU checks against a stand-in nvidia-smi (a script on PATH answering as the real
tool does, failures included) and, for the GPU container, the real Docker engine."""

from __future__ import annotations

import os
import textwrap

import pytest

from mlci.cli import main
from mlci.host.doctor import Check, expected_gpus
from mlci.host.gpu_checks import container_check, gpu_checks, library_version, module_version, query_smi
from mlci.manifest import load_manifest

H100 = "NVIDIA H100 80GB HBM3"
HEALTHY = f"0, GPU-aaaa, {H100}, 570.133.20, Enabled, Disabled\n1, GPU-bbbb, {H100}, 570.133.20, Enabled, [N/A]\n"
MISMATCH = "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 570.133\n"
NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest"
    " NVIDIA driver is installed and running.\n"
)


@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    """Put an nvidia-smi on PATH that prints `stdout` and exits with `code`; it checks its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    def install(stdout: str, code: int = 0) -> None:
        (bin_dir / "out.txt").write_text(stdout)
        script = bin_dir / "nvidia-smi"
        script.write_text(
            textwrap.dedent(f"""\
                #!/bin/sh
                [ "$*" = "--query-gpu=index,uuid,name,driver_version,persistence_mode,mig.mode.current --format=csv,noheader" ] \\
                  || {{ echo "Invalid combination of input arguments: $*" >&2; exit 2; }}
                cat {bin_dir}/out.txt
                exit {code}
            """)
        )
        script.chmod(0o755)

    return install


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_healthy_host(fake_smi):
    fake_smi(HEALTHY)
    checks = by_name(gpu_checks(query_smi(), strict=True, expected=2, module="570.133.20", library="570.133.20"))
    assert checks["GPUs"].line() == f"✓ GPUs: 2 visible: {H100} …"
    assert checks["driver version"].ok and checks["persistence mode"].ok and checks["MIG"].ok


def test_the_nvml_message_is_shown_with_its_fix(fake_smi):
    fake_smi(MISMATCH, code=18)
    (check,) = gpu_checks(query_smi(), strict=False, expected=None, module=None, library=None)
    assert check.failed_required  # a host with a broken driver fails even without --strict
    line = check.line()
    assert "nvidia-smi failed (exit status 18): Failed to initialize NVML: Driver/library version mismatch" in line
    assert "NVML library version: 570.133" in line
    assert "reboot, or run `ansible-playbook ansible/gpu-maintenance.yml`" in line
    assert "install the driver" not in line

    fake_smi(NO_DRIVER, code=9)
    (check,) = gpu_checks(query_smi(), strict=False, expected=None, module=None, library=None)
    assert "couldn't communicate with the NVIDIA driver" in check.line()
    assert "the NVIDIA kernel module is not loaded: reboot" in check.line() and "mokutil --sb-state" in check.line()


def test_module_and_library_versions_compared(fake_smi, tmp_path):
    proc = tmp_path / "version"
    proc.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build  (dvs-builder@U16)\n"
        "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n"
    )
    libs = tmp_path / "lib"
    libs.mkdir()
    (libs / "libnvidia-ml.so.1").write_text("")
    (libs / "libnvidia-ml.so.570.133.20").write_text("")
    module, library = module_version(proc), library_version((str(libs / "libnvidia-ml.so.*.*"),))
    assert (module, library) == ("570.124.06", "570.133.20")
    fake_smi(HEALTHY)
    check = by_name(gpu_checks(query_smi(), strict=True, expected=None, module=module, library=library))[
        "driver version"
    ]
    assert check.failed_required
    assert check.line().startswith("✗ driver version: kernel module 570.124.06, library 570.133.20 — the module loaded")
    assert module_version(tmp_path / "absent") is None


def test_persistence_mig_and_count_against_the_manifest(fake_smi):
    fake_smi(f"0, GPU-aaaa, {H100}, 570.133.20, Disabled, Enabled\n")
    checks = by_name(gpu_checks(query_smi(), strict=True, expected=2, module=None, library=None))
    assert checks["GPUs"].line().startswith(f"✗ GPUs: nvidia-smi lists 1 ({H100}) but mlci.yaml declares 2")
    assert (
        "off for GPU 0" in checks["persistence mode"].line()
        and "nvidia-persistenced" in checks["persistence mode"].line()
    )
    assert checks["MIG"].failed_required and "nvidia-smi -i N -mig 0" in checks["MIG"].line()
    assert "driver version" not in checks  # nothing to compare with


def test_gpus_compared_with_the_ansible_inventory(fake_smi):
    fake_smi(HEALTHY)
    same = by_name(
        gpu_checks(query_smi(), strict=True, expected=2, module=None, library=None, recorded=["GPU-aaaa", "GPU-bbbb"])
    )
    assert same["GPU inventory"].line() == "✓ GPU inventory: matches /etc/mlci/gpus.json"
    moved = by_name(
        gpu_checks(query_smi(), strict=True, expected=2, module=None, library=None, recorded=["GPU-bbbb", "GPU-cccc"])
    )
    assert moved["GPU inventory"].failed_required and "run ansible site.yml again" in moved["GPU inventory"].line()


def test_no_nvidia_smi_is_advisory_on_a_workstation(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    smi = query_smi()
    assert not smi.installed
    (check,) = gpu_checks(smi, strict=False, expected=None, module=None, library=None)
    assert check.ok is False and not check.failed_required
    (check,) = gpu_checks(smi, strict=False, expected=2, module=None, library=None)
    assert check.failed_required  # mlci.yaml says this host has GPUs


def test_expected_count_comes_from_this_hosts_entry(tmp_path):
    (tmp_path / "mlci.yaml").write_text(
        "version: 1\nname: t\nrepository: {url: 'https://example.com/r.git'}\n"
        "hosts:\n  - {name: gpu-01, address: 192.0.2.10, gpus: 4}\n  - {name: gpu-02, address: 192.0.2.11, gpus: 2, roles: [agent]}\n"
    )
    manifest = load_manifest(tmp_path)
    assert expected_gpus(manifest, "gpu-02") == 2
    assert expected_gpus(manifest, "laptop") is None


@pytest.mark.docker
def test_gpu_container_on_an_engine_without_the_toolkit(docker_client, base_image):
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime: the GPU suite covers it")
    user = f"{os.getuid()}:{os.getgid()}"
    before = docker_client.api.containers(all=True, quiet=True)
    check = container_check(docker_client, base_image, user, expected=2, strict=True)
    assert check.failed_required
    assert "a container with --gpus all did not start (could not select device driver" in check.line()
    assert "restart Docker after installing the toolkit (`sudo systemctl restart docker`)" in check.line()
    leftover = docker_client.api.containers(all=True, filters={"label": "mlci.doctor=1", "ancestor": base_image})
    assert {c["Id"] for c in leftover} <= {c["Id"] for c in before}  # the failed container was removed
    skipped = container_check(docker_client, "mlci/absent:never", user, expected=2, strict=True)
    assert skipped.ok is None and "is not on this host" in skipped.line()


@pytest.mark.docker
def test_doctor_command_reports_the_nvml_message_and_fails(fake_smi, tmp_path, monkeypatch, base_image, capsys):
    fake_smi(MISMATCH, code=18)
    (tmp_path / "mlci.yaml").write_text(f"version: 1\nname: t\nbuild: {{base_image: '{base_image}'}}\n")
    monkeypatch.setenv("MLCI_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["--root", str(tmp_path), "doctor", "--min-free-gb", "0.001"]) == 1
    out = capsys.readouterr().out
    assert "✗ GPUs: nvidia-smi failed (exit status 18): Failed to initialize NVML" in out
    assert "GPU container" in out  # nvidia-smi exists, so a real GPU container is tried too
