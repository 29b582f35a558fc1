"""The serving container as the engine stores it: the GPU device request, memory and CPU limits, the
restart policy and hardening (no GPU here: the request is read back from a created container), and a
GPU deployment on an engine without the NVIDIA runtime is a clear error that leaves the old one serving."""

from __future__ import annotations

import pytest

from mlci.deploy.container import ServeSpec, create, ensure_network
from mlci.deploy.target import resolve_target
from mlci.manifest import load_manifest
from mlci.manifest.serve import Serve
from mlci.runner.gpus import GpuRequest, plan_gpus
from tests.deploy.conftest import ask, serve_settings, serving, undeploy

pytestmark = pytest.mark.docker


def test_gpus_memory_cpus_and_restart_reach_the_engine(scratch, docker_client):
    target = resolve_target(scratch.root, load_manifest(scratch.root), "digits", scratch.env, "v1")
    serve = Serve(command="python src/serve.py", port=8080, gpus="all", memory="256m", cpus=0.5, restart="on-failure")
    spec = ServeSpec(
        target=target,
        serve=serve,
        image_id=scratch.image,
        gpu=plan_gpus(GpuRequest("all"), True),
        deployed_by="carol",
    )
    ensure_network(docker_client.api, scratch.env)
    container = create(docker_client.api, spec, f"{scratch.name}_specimen", publish=False, restart=True)
    try:
        host = docker_client.api.inspect_container(container)["HostConfig"]
    finally:
        docker_client.api.remove_container(container, force=True)
    assert [(r["Count"], r["Capabilities"]) for r in host["DeviceRequests"]] == [(-1, [["gpu"]])]
    assert host["Memory"] == 256 * 1024 * 1024 and host["NanoCpus"] == 500_000_000
    assert host["RestartPolicy"]["Name"] == "on-failure"
    assert host["SecurityOpt"] == ["no-new-privileges"] and host["Init"] is True
    assert host["Binds"] == [f"{target.model_dir}:/mlci/model:ro"]


def test_a_gpu_service_on_an_engine_without_nvidia_fails_clearly(scratch, docker_client):
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime")
    undeploy(docker_client, scratch)
    assert scratch.deploy("--version", "v1").returncode == 0
    before = serving(docker_client, scratch)["Id"]
    with serve_settings(scratch, "health_timeout: 60s", "health_timeout: 60s\n  gpus: all"):
        refused = scratch.deploy("--version", "v2")
    assert refused.returncode == 1
    assert "GPUs were requested (all) but this Docker engine has no NVIDIA runtime" in refused.stderr
    assert serving(docker_client, scratch)["Id"] == before
    assert ask(docker_client, scratch, "/health")["version"] == "v1"
