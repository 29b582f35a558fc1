"""GPU runs for real, on a GPU host (`pytest -m gpu tests/runner/test_gpu.py`).

A host that claims GPUs (nvidia-smi on PATH, /proc/driver/nvidia, or MLCI_EXPECT_GPUS set) but
cannot run a GPU container FAILS these tests, naming what is wrong; only a host with no sign of a
GPU skips them. They use the local base image (nothing is pulled), check each leased device's
count and UUID from inside the container, load libcuda (cuInit), and keep GPU access across a
`systemctl daemon-reload` in the middle of a stage. The GPU-less behaviour is in test_run_docker.py.

The first test runs `mlci doctor --gpu-smoke`, the one command that checks the same on any GPU host
without pytest: every line must pass or be n/a, and those only a GPU can answer must pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlci.host.gpu_checks import TOOLKIT_FIX, nvml_fix
from tests.conftest import mlci, write_project

pytestmark = [pytest.mark.gpu, pytest.mark.docker]

LIST_GPUS = "nvidia-smi --query-gpu=index,uuid --format=csv,noheader"
CUINIT = (
    "python3 -c \"import ctypes; c = ctypes.CDLL('libcuda.so.1'); n = ctypes.c_int();"
    " r = c.cuInit(0); c.cuDeviceGetCount(ctypes.byref(n)); print('cuInit', r, 'devices', n.value)\""
)


@pytest.fixture(scope="module")
def host_gpus(docker_client) -> list[tuple[str, str]]:
    """(index, UUID) of every GPU on this host; fails when the host claims GPUs it cannot use."""
    claims = shutil.which("nvidia-smi") or Path("/proc/driver/nvidia").exists() or os.environ.get("MLCI_EXPECT_GPUS")
    if not claims:
        pytest.skip("no NVIDIA GPU on this host (no nvidia-smi, no /proc/driver/nvidia, MLCI_EXPECT_GPUS unset)")
    if shutil.which("nvidia-smi") is None:
        pytest.fail("this host claims GPUs but has no nvidia-smi: install the driver (ansible site.yml)")
    listed = subprocess.run(LIST_GPUS.split(), capture_output=True, text=True)
    if listed.returncode != 0:
        message = (listed.stdout + listed.stderr).strip()
        pytest.fail(f"nvidia-smi failed ({listed.returncode}): {message} — {nvml_fix(message)}")
    gpus = [tuple(f.strip() for f in line.split(",")) for line in listed.stdout.splitlines() if line.strip()]
    if expected := os.environ.get("MLCI_EXPECT_GPUS"):
        assert len(gpus) == int(expected), f"nvidia-smi lists {len(gpus)} GPU(s), MLCI_EXPECT_GPUS={expected}"
    if not gpus:
        pytest.fail("nvidia-smi lists no GPU on a host that claims GPUs")
    if "nvidia" not in (docker_client.info().get("Runtimes") or {}):
        pytest.fail(f"this host has GPUs but Docker has no NVIDIA runtime: {TOOLKIT_FIX}")
    return gpus


# What only a real GPU host can show; `mlci doctor --gpu-smoke` must pass each of them here.
GPU_ONLY_CHECKS = (
    "driver",
    "kernel module = user-space driver",
    "persistence mode",
    "docker",
    "container toolkit",
    "container by UUID",
    "CUDA in a container",
    "stage limits",
    "daemon-reload",  # needs root or passwordless sudo, as the reload test below
)


def test_the_gpu_smoke_check_passes(tmp_path, base_image, host_gpus):
    command = [sys.executable, "-m", "mlci", "doctor", "--gpu-smoke", "--json", "--image", base_image]
    done = subprocess.run(
        [*command, "--expect-gpus", str(len(host_gpus))], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    report = json.loads(done.stdout)
    failed = [check for check in report["checks"] if check["status"] == "fail"]
    assert done.returncode == 0 and not failed, json.dumps(failed or report, indent=2)
    status = {check["name"]: check["status"] for check in report["checks"]}
    assert {name: status[name] for name in GPU_ONLY_CHECKS} == dict.fromkeys(GPU_ONLY_CHECKS, "pass"), report
    assert [g["uuid"] for g in report["gpus"]] == [uuid for _, uuid in host_gpus]


def _status(root: Path, project: str, job: str) -> dict:
    return json.loads((root / ".mlci" / "runs" / project / job / "status.json").read_text())


def _seen(stdout: str) -> list[tuple[str, str]]:
    return [
        tuple(f.strip() for f in line.split(","))
        for line in stdout.splitlines()
        if line.count(",") == 1 and "GPU-" in line
    ]


def test_all_gpus_by_uuid_with_env_and_record(monorepo, base_image, host_gpus):
    write_project(
        monorepo, "gpu", f"gpus: all\nstages: [{{name: train, run: '{LIST_GPUS}; echo uuids=$MLCI_GPU_UUIDS'}}]\n"
    )
    result = mlci(monorepo, "run", "gpu", "--job-id", "all")
    assert result.returncode == 0, result.stderr
    uuids = [u for _, u in host_gpus]
    assert sorted(u for _, u in _seen(result.stdout)) == sorted(uuids)
    assert f"uuids={','.join(uuids)}" in result.stdout
    data = _status(monorepo, "gpu", "all")
    assert data["gpus"]["uuids"] == uuids
    assert data["attempts"][0]["stages"][0]["deviceRequests"][0]["DeviceIDs"] == uuids


def test_each_leased_device_is_exactly_that_gpu(monorepo, base_image, host_gpus):
    write_project(monorepo, "one", f"gpus: none\nstages: [{{name: train, run: '{LIST_GPUS}'}}]\n")
    for index, uuid in host_gpus:
        result = mlci(monorepo, "run", "one", "--job-id", f"dev{index}", "--gpus", f"device={index}")
        assert result.returncode == 0, result.stderr
        assert [u for _, u in _seen(result.stdout)] == [uuid], f"lease of GPU {index}"


def test_libcuda_initialises(monorepo, base_image, host_gpus):
    write_project(monorepo, "cuda", f"gpus: all\nstages: [{{name: train, run: '{CUINIT}'}}]\n")
    result = mlci(monorepo, "run", "cuda", "--job-id", "cuinit")
    assert result.returncode == 0, result.stderr
    assert f"cuInit 0 devices {len(host_gpus)}" in result.stdout


def test_gpu_access_survives_a_daemon_reload_mid_stage(monorepo, base_image, host_gpus):
    reload = ["systemctl", "daemon-reload"] if os.geteuid() == 0 else ["sudo", "-n", "systemctl", "daemon-reload"]
    stage = f"touch /mlci/out/started; sleep 8; {LIST_GPUS} && {CUINIT}"
    write_project(monorepo, "reload", f"gpus: all\nstages: [{{name: train, run: '{stage}'}}]\n")
    run = subprocess.Popen(
        [sys.executable, "-m", "mlci", "run", "reload", "--job-id", "reload"],
        cwd=monorepo,
        env={**os.environ, "MLCI_ROOT": str(monorepo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = monorepo / ".mlci/runs/reload/reload"
    deadline = time.monotonic() + 300
    while not list(started.glob("**/started")) and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.5)
    done = subprocess.run(reload, capture_output=True, text=True)
    assert done.returncode == 0, f"systemctl daemon-reload needs root or passwordless sudo: {done.stderr}"
    stdout, stderr = run.communicate(timeout=600)
    assert run.returncode == 0, stderr + stdout
    assert "Failed to initialize NVML" not in stdout
    assert f"cuInit 0 devices {len(host_gpus)}" in stdout
