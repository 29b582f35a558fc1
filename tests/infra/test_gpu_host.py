"""A real GPU host after site.yml: driver, holds, persistence, inventory, GPU containers from the
local base image (never pulled) that keep their GPUs across a daemon-reload, the stack up.

Run against a provisioned host (CI here has no GPU and cannot pull the stack's images):
    pytest tests/infra -m gpu --hosts=ssh://USER@HOST --sudo [--ssh-identity-file KEY]
Settings (environment): MLCI_ROOT (/srv/mlci), MLCI_JENKINS_PORT (8080), MLCI_BASE_IMAGE
(mlci/python:3.11-bookworm, which every GPU host builds), MLCI_EXPECT_GPUS (mlci.yaml's count).
Without --hosts these tests are skipped (see conftest.py); with it, every failure is a real one.
"""

import json
import os

import pytest

pytestmark = pytest.mark.gpu

MLCI_ROOT = os.environ.get("MLCI_ROOT", "/srv/mlci")
JENKINS_PORT = int(os.environ.get("MLCI_JENKINS_PORT", "8080"))
BASE_IMAGE = os.environ.get("MLCI_BASE_IMAGE", "mlci/python:3.11-bookworm")
EXPECTED = os.environ.get("MLCI_EXPECT_GPUS")
GPU_RUN = f"docker run --rm --gpus all -e NVIDIA_DRIVER_CAPABILITIES=compute,utility {BASE_IMAGE}"
CUINIT = (
    "python3 -c \"import ctypes; c = ctypes.CDLL('libcuda.so.1'); n = ctypes.c_int();"
    " r = c.cuInit(0); c.cuDeviceGetCount(ctypes.byref(n)); print('cuInit', r, 'devices', n.value)\""
)


def _host_uuids(host) -> list[str]:
    return host.check_output("nvidia-smi --query-gpu=uuid --format=csv,noheader").split()


COMPOSE = "$(docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)"


def test_nvidia_driver_answers_with_persistence_and_no_mig(host):
    listed = host.run(
        "nvidia-smi --query-gpu=name,driver_version,persistence_mode,mig.mode.current --format=csv,noheader"
    )
    assert listed.rc == 0, listed.stdout + listed.stderr  # NVML's message, e.g. a driver/library mismatch
    rows = [line.split(", ") for line in listed.stdout.splitlines()]
    assert rows, "nvidia-smi lists no GPU"
    if EXPECTED:
        assert len(rows) == int(EXPECTED)
    assert all(row[2] == "Enabled" for row in rows), rows
    assert not any(row[3] == "Enabled" for row in rows), rows


def test_module_matches_the_library(host):
    module = host.check_output("cat /proc/driver/nvidia/version")
    library = host.check_output("ls /usr/lib/*-linux-gnu/libnvidia-ml.so.*.*")
    version = library.rsplit("libnvidia-ml.so.", 1)[1].strip()
    assert version in module, f"kernel module and library differ: {module} / {library}"


def test_driver_is_held_and_kept_from_unattended_upgrades(host):
    held = host.check_output("apt-mark showhold").split()
    assert any(p.startswith(("nvidia-", "libnvidia-")) for p in held), held
    assert {"nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container1"} <= set(held)
    assert '"nvidia-";' in host.check_output("apt-config dump Unattended-Upgrade::Package-Blacklist")


def test_inventory_matches_the_gpus(host):
    inventory = json.loads(host.file("/etc/mlci/gpus.json").content_string)
    assert [g["uuid"] for g in inventory["gpus"]] == _host_uuids(host)


def test_docker_has_the_nvidia_runtime(host):
    options = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert "nvidia" in options.get("runtimes", {})
    assert options["log-driver"] == "json-file"


def test_a_container_sees_every_gpu_and_initialises_cuda(host):
    assert host.run(f"docker image inspect {BASE_IMAGE}").rc == 0, f"build {BASE_IMAGE} on the host (never pulled)"
    listed = host.run(f"{GPU_RUN} nvidia-smi --query-gpu=uuid --format=csv,noheader")
    assert listed.rc == 0, listed.stderr
    assert listed.stdout.split() == _host_uuids(host)
    cuda = host.run(f"{GPU_RUN} {CUINIT}")
    assert cuda.rc == 0, cuda.stderr
    assert f"cuInit 0 devices {len(_host_uuids(host))}" in cuda.stdout


def test_each_device_by_uuid(host):
    for uuid in _host_uuids(host):
        seen = host.check_output(
            f"docker run --rm --gpus device={uuid} {BASE_IMAGE} nvidia-smi --query-gpu=uuid --format=csv,noheader"
        )
        assert seen.split() == [uuid]


def test_a_running_container_keeps_its_gpus_across_a_daemon_reload(host):
    name = "mlci-gpu-reload-check"
    host.run(f"docker rm -f {name}")
    started = host.run(f"docker run -d --name {name} --gpus all {BASE_IMAGE} sleep 120")
    assert started.rc == 0, started.stderr
    try:
        assert host.run("systemctl daemon-reload").rc == 0
        after = host.run(f"docker exec {name} nvidia-smi -L")
        assert after.rc == 0 and "Failed to initialize NVML" not in after.stdout + after.stderr, (
            after.stdout + after.stderr
        )
    finally:
        host.run(f"docker rm -f {name}")


def test_the_gpu_smoke_check_passes(host):
    """`mlci doctor --gpu-smoke` (site.yml's last play) on the provisioned host: nothing fails, and
    what site.yml sets up passes (holds, inventory, toolkit, containers, CUDA, a stage, a reload)."""
    expect = f" --expect-gpus {EXPECTED}" if EXPECTED else ""
    run = host.run(f"mlci doctor --gpu-smoke --json --image {BASE_IMAGE}{expect}")
    report = json.loads(run.stdout)
    failed = [check for check in report["checks"] if check["status"] == "fail"]
    assert run.rc == 0 and not failed, json.dumps(failed or report, indent=2)
    status = {check["name"]: check["status"] for check in report["checks"]}
    provisioned = (
        "driver", "kernel module = user-space driver", "persistence mode", "apt holds", "docker", "container toolkit",
        "gpus.json", "container by UUID", "CUDA in a container", "stage limits", "daemon-reload",
    )  # fmt: skip
    assert {name: status[name] for name in provisioned} == dict.fromkeys(provisioned, "pass"), report
    assert status["fabric manager"] in ("pass", "n/a") and status["unattended-upgrades blacklist"] in ("pass", "n/a")


def test_every_stack_service_is_running(host):
    declared = set(host.check_output(f"cd {MLCI_ROOT}/compose && {COMPOSE} config --services").split())
    assert "jenkins" in declared
    running = set(
        host.check_output(f"cd {MLCI_ROOT}/compose && {COMPOSE} ps --services --filter status=running").split()
    )
    assert declared <= running, f"not running: {sorted(declared - running)}"


def test_jenkins_answers_on_loopback(host):
    status = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' http://127.0.0.1:{JENKINS_PORT}/login")
    assert status == "200"


def test_stack_secrets_are_owner_only(host):
    listing = host.check_output(f"find {MLCI_ROOT}/secrets -type f ! -perm 0400")
    assert listing == "", f"secret files not 0400: {listing}"
