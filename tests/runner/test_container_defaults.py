"""Training defaults on the containers the real engine creates: /dev/shm, IPC, ulimits, GPU env."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from mlci.runner import resources
from mlci.runner.container import StageSpec
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
