"""The smoke check's Docker side against the real engine (no GPU here): who a daemon-reload would
take GPUs from, judged on what the engine really stores for each kind of GPU request; the probe
script in a real container; a real `mlci run` stage reporting its limits; and the whole check on
a host whose GPU facts are stand-ins but whose Docker is real."""

from __future__ import annotations

import json
import uuid

import pytest
from docker.errors import ImageNotFound
from docker.types import DeviceRequest

from mlci.host import gpu_docker, gpu_smoke
from mlci.host.gpu_smoke import FAIL, NA, PASS, Options
from mlci.runner.gpus import Gpu
from tests.host.fake_host import PROC_OPEN_580, UUIDS, FakeHost, smi_rows

pytestmark = pytest.mark.docker


@pytest.fixture
def created(docker_client, base_image):
    """Create (never start) containers with the given create() keywords; their inspect data."""
    made = []

    def create(**kwargs) -> dict:
        container = docker_client.containers.create(
            base_image, ["true"], name=f"mlci-smoke-test-{uuid.uuid4().hex[:8]}", **kwargs
        )
        made.append(container)
        container.reload()
        return container.attrs

    yield create
    for container in made:
        container.remove(force=True)


def test_only_hook_granted_gpus_are_at_risk_under_systemd(created):
    legacy = created(device_requests=[gpu_docker.gpu_request(Gpu(0, UUIDS[0]), cdi=False)])
    assert legacy["HostConfig"]["DeviceRequests"][0]["DeviceIDs"] == [UUIDS[0]]
    cdi = created(device_requests=[gpu_docker.gpu_request(Gpu(0, UUIDS[0]), cdi=True)])
    assert cdi["HostConfig"]["DeviceRequests"][0]["Driver"] == "cdi"
    explicit = created(
        device_requests=[DeviceRequest(device_ids=[UUIDS[0]], capabilities=[["gpu"]])],
        devices=["/dev/nvidia0:/dev/nvidia0:rwm", "/dev/nvidiactl:/dev/nvidiactl:rwm"],
    )
    cpu = created()
    assert gpu_docker.hook_granted(legacy)
    assert not gpu_docker.hook_granted(cdi)
    assert not gpu_docker.hook_granted(explicit)
    assert not gpu_docker.hook_granted(cpu)
    # `--runtime nvidia -e NVIDIA_VISIBLE_DEVICES=all` (this engine has no nvidia runtime to create it with)
    runtime = {
        **cpu,
        "HostConfig": {**cpu["HostConfig"], "Runtime": "nvidia"},
        "Config": {"Env": ["NVIDIA_VISIBLE_DEVICES=all"]},
    }
    assert gpu_docker.hook_granted(runtime)

    def engine(driver: str) -> gpu_docker.Engine:
        return gpu_docker.Engine("27.3.1", "1.47", driver, "2", ("nvidia", "runc"), "runc", ())

    containers = [legacy, cdi, explicit, cpu]
    assert gpu_docker.at_risk(containers, engine("systemd")) == [legacy["Name"].lstrip("/")]
    assert gpu_docker.at_risk(containers, engine("cgroupfs")) == []


def test_the_cuda_probe_in_a_real_container_without_a_driver(docker_client, base_image):
    probe = gpu_docker.probe_container(docker_client, base_image, None, (), timeout=120)
    assert probe["error"].startswith("libcuda.so.1 is not in the container")
    assert probe["nodes"] == []
    ok, detail = gpu_smoke.cuda_verdict(probe)
    assert not ok and "nvidia-ctk runtime configure" in gpu_smoke.cuda_fix(detail)
    assert not docker_client.containers.list(all=True, filters={"label": "mlci.smoke=gpu"})  # removed


def test_a_real_mlci_run_stage_reports_its_limits(docker_client, base_image):
    removed = []

    def remove(tag: str) -> None:
        removed.append(tag)
        docker_client.images.remove(tag)

    outcome = gpu_docker.run_stage(base_image, gpus=False, between=None, timeout=300, remove_image=remove)
    assert outcome.returncode == 0, outcome.log_tail
    assert outcome.limits["stack"] == 64 << 20 and outcome.limits["shm_bytes"] == 8 << 30
    assert outcome.limits["cuda_device_order"] == "PCI_BUS_ID" and outcome.limits["gpu_uuids"] is None
    result = gpu_smoke.stage_limits_result(outcome, None)
    assert result.status == PASS, result.detail
    assert result.detail.startswith("/dev/shm 8 GiB, memlock ")
    assert removed and removed[0].startswith("mlci/gpu-smoke:")
    with pytest.raises(ImageNotFound):
        docker_client.images.get(removed[0])


def _host_with_docker(tmp_path) -> FakeHost:
    host = FakeHost(tmp_path)
    host.nvidia_smi(smi_rows())
    host.driver_files(PROC_OPEN_580, "580.95.05")
    host.files["/var/run/docker.sock"] = ""
    return host


def test_real_docker_without_the_toolkit(tmp_path, docker_client):
    report = gpu_smoke.run_smoke(
        _host_with_docker(tmp_path), lambda: docker_client, Options(image="mlci/python:3.11-bookworm")
    )
    results = {r.name: r for r in report.results}
    info = docker_client.info()
    assert results["docker"].status == PASS
    assert f"cgroup driver {info['CgroupDriver']}" in results["docker"].detail
    toolkit = results["container toolkit"]
    assert toolkit.status == NA and toolkit.detail == "the NVIDIA Container Toolkit is not installed"
    for name in ("container by UUID", "CUDA in a container", "stage limits", "daemon-reload"):
        assert results[name].status == NA and "Container Toolkit is not installed" in results[name].detail
    assert report.exit_code == gpu_smoke.EXIT_OK


def test_real_docker_on_a_provisioned_host_needs_the_toolkit(tmp_path, docker_client):
    host = _host_with_docker(tmp_path)
    host.files["/etc/mlci/gpus.json"] = json.dumps(
        {"requests": "legacy", "gpus": [{"index": i, "uuid": u} for i, u in enumerate(UUIDS)]}
    )
    options = Options(image="mlci/python:3.11-bookworm", inventory_path="/etc/mlci/gpus.json")
    report = gpu_smoke.run_smoke(host, lambda: docker_client, options)
    results = {r.name: r for r in report.results}
    assert results["container toolkit"].status == FAIL
    assert results["container toolkit"].detail == "the NVIDIA Container Toolkit is not installed"
    assert "nvidia-ctk runtime configure" in results["container toolkit"].fix
    assert results["container by UUID"].status == FAIL and results["daemon-reload"].status == FAIL
    assert report.exit_code == gpu_smoke.EXIT_FAILED
