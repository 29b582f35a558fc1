"""Training defaults on the containers the real engine creates: /dev/shm, IPC, ulimits, GPU env."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from mlci.runner import resources
from mlci.runner.stage_spec import StageSpec
from tests.conftest import mlci, write_project

pytestmark = [pytest.mark.docker]

PROBE = (
    "df -k /dev/shm | tail -1; echo stack=$(ulimit -s) memlock=$(ulimit -l);"
    " echo order=$CUDA_DEVICE_ORDER uuids=[$MLCI_GPU_UUIDS]; echo ipc=$(readlink /proc/self/ns/ipc)"
)


def _status(root, project, job):
    return json.loads((root / ".mlci" / "runs" / project / job / "status.json").read_text())


def test_cpu_stage_gets_a_large_shm_the_stack_limit_and_the_cuda_env(monorepo, base_image):
    write_project(monorepo, "shm", f"gpus: none\nstages: [{{name: train, run: '{PROBE}'}}]\n")
    result = mlci(monorepo, "run", "shm", "--job-id", "defaults")
    assert result.returncode == 0, result.stderr
    shm_kib = int(next(line for line in result.stdout.splitlines() if line.startswith("shm")).split()[1])
    assert shm_kib == 8 * 1024 * 1024  # 8 GiB, not Docker's 64 MiB
    assert "stack=65536 " in result.stdout  # KiB: 64 MiB
    assert "order=PCI_BUS_ID uuids=[]" in result.stdout
    assert f"ipc={os.readlink('/proc/self/ns/ipc')}" not in result.stdout  # private by default
    assert _status(monorepo, "shm", "defaults")["gpus"]["uuids"] == []


def test_shm_size_in_the_size_grammar_reaches_the_container(monorepo, base_image):
    write_project(monorepo, "shmset", f"gpus: none\nshm_size: 0.25GiB\nstages: [{{name: train, run: '{PROBE}'}}]\n")
    result = mlci(monorepo, "run", "shmset", "--job-id", "shmset")
    assert result.returncode == 0, result.stderr
    shm_kib = int(next(line for line in result.stdout.splitlines() if line.startswith("shm")).split()[1])
    assert shm_kib == 256 * 1024  # 0.25 GiB, read by mlci/manifest/units.py, given to the engine in bytes


def test_project_settings_host_ipc_and_memlock(monorepo, base_image):
    write_project(
        monorepo,
        "ipc",
        f"gpus: none\nipc: host\nulimits: {{memlock: 8388608, stack: 16777216}}\n"
        f"stages: [{{name: train, run: '{PROBE}'}}]\n",
    )
    result = mlci(monorepo, "run", "ipc", "--job-id", "host")
    assert result.returncode == 0, result.stderr
    assert "stack=16384 memlock=8192" in result.stdout
    assert f"ipc={os.readlink('/proc/self/ns/ipc')}" in result.stdout  # the host's IPC namespace


def test_gpu_stage_defaults_on_the_created_container(docker_client, base_image):
    """Memlock unlimited for GPU stages, as NVIDIA runs its containers (this engine cannot start one:
    no GPU, and its dockerd may not raise memlock, so the container is created and inspected)."""
    from docker.types import DeviceRequest

    spec = StageSpec(
        name="train",
        image=base_image,
        command=["true"],
        env={"MLCI_STAGE": "train"},
        labels={},
        binds={},
        user="0:0",
        timeout_s=60,
        device_request=DeviceRequest(device_ids=["GPU-aaaa"], capabilities=[["gpu"]]),
        gpu_uuids=("GPU-aaaa",),
    )
    api = docker_client.api
    host_config = api.create_host_config(device_requests=[spec.device_request], **resources.host_options(spec))
    created = api.create_container(
        base_image,
        command=spec.command,
        environment=resources.environment(spec),
        host_config=host_config,
        name=f"mlci-test-defaults-{uuid.uuid4().hex[:8]}",
    )["Id"]
    try:
        inspected = api.inspect_container(created)
    finally:
        api.remove_container(created, force=True)
    config = inspected["HostConfig"]
    assert config["ShmSize"] == 8 * 1024**3
    assert config["IpcMode"] == "private"
    limits = {u["Name"]: (u["Soft"], u["Hard"]) for u in config["Ulimits"]}
    assert limits == {"memlock": (-1, -1), "stack": (67108864, 67108864)}
    assert config["DeviceRequests"][0]["DeviceIDs"] == ["GPU-aaaa"]
    env = inspected["Config"]["Env"]
    assert "CUDA_DEVICE_ORDER=PCI_BUS_ID" in env and "MLCI_GPU_UUIDS=GPU-aaaa" in env


def test_cli_refuses_a_bare_gpu_number(monorepo, base_image):
    write_project(monorepo, "amb", "gpus: none\n")
    result = mlci(monorepo, "run", "amb", "--gpus", "2")
    assert result.returncode == 2
    assert "--gpus 2 is ambiguous: say --gpus count=2 for 2 GPU(s) or --gpus device=2 for GPU 2" in result.stderr


def test_a_cdi_host_requests_cdi_devices_by_uuid(monorepo, base_image, docker_client, tmp_path):
    """A host provisioned with nvidia_container_toolkit_mode: cdi (its inventory says so): the engine
    gets CDI device requests by UUID; this engine cannot resolve them, and mlci says how to fix it."""
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime: the GPU suite covers it")
    inventory = tmp_path / "gpus.json"
    inventory.write_text(
        json.dumps(
            {
                "host": "h",
                "requests": "cdi",
                "gpus": [{"index": 0, "uuid": "GPU-aaaa"}, {"index": 1, "uuid": "GPU-bbbb"}],
            }
        )
    )
    write_project(monorepo, "cdi", "gpus: all\nstages: [{name: train, run: 'true'}]\n")
    result = mlci(
        monorepo, "run", "cdi", "--job-id", "cdi", "--gpus", "device=1", env={"MLCI_GPU_INVENTORY": str(inventory)}
    )
    assert result.returncode == 1
    assert "GPUs were requested (1) as CDI devices but this Docker engine cannot resolve them" in result.stderr
    assert "nvidia-ctk cdi generate" in result.stderr
    data = _status(monorepo, "cdi", "cdi")
    assert data["gpus"]["uuids"] == ["GPU-bbbb"]
    (request,) = data["attempts"][0]["stages"][0]["deviceRequests"]
    assert request["Driver"] == "cdi" and request["DeviceIDs"] == ["nvidia.com/gpu=GPU-bbbb"]
    missing = mlci(
        monorepo, "run", "cdi", "--job-id", "gone", "--gpus", "device=2", env={"MLCI_GPU_INVENTORY": str(inventory)}
    )
    assert missing.returncode == 1
    assert "GPU 2 is not on this host (it has 0=GPU-aaaa, 1=GPU-bbbb)" in missing.stderr
