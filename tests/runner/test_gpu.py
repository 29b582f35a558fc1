"""GPU runs for real: only on a host whose engine has the NVIDIA runtime (`pytest -m gpu`).
Elsewhere these are skipped; the GPU-less behaviour is covered in test_run_docker.py."""

from __future__ import annotations

import json

import pytest

from tests.conftest import mlci, write_project

pytestmark = [pytest.mark.gpu, pytest.mark.docker]


@pytest.fixture
def nvidia_engine(docker_client):
    if "nvidia" not in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("needs a Docker engine with the NVIDIA runtime (a GPU host)")


def test_auto_uses_every_gpu_and_the_stage_sees_them(monorepo, base_image, nvidia_engine):
    write_project(monorepo, "gpu", "gpus: auto\nstages: [{name: train, run: nvidia-smi -L}]\n")
    result = mlci(monorepo, "run", "gpu", "--job-id", "auto")
    assert result.returncode == 0, result.stderr
    assert "GPU 0:" in result.stdout
    data = json.loads((monorepo / ".mlci/runs/gpu/auto/status.json").read_text())
    assert data["gpus"]["devices"] == "all"
    assert data["attempts"][0]["stages"][0]["deviceRequests"][0]["Count"] == -1


def test_device_zero_only(monorepo, base_image, nvidia_engine):
    write_project(monorepo, "gpu0", "gpus: none\nstages: [{name: train, run: nvidia-smi -L}]\n")
    result = mlci(monorepo, "run", "gpu0", "--job-id", "zero", "--gpus", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("GPU ") == 1
