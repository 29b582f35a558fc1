"""A real GPU host after site.yml: driver, --gpus in containers, the stack up and Jenkins answering.

Run against a provisioned host (CI here has no GPU and cannot pull the stack's images):
    pytest tests/infra -m gpu --hosts=ssh://USER@HOST --sudo [--ssh-identity-file KEY]
Settings (environment): MLCI_ROOT (/srv/mlci), MLCI_JENKINS_PORT (8080),
MLCI_CUDA_IMAGE (an image with nvidia-smi; pulled on the host if it is not there).
Without --hosts these tests are skipped (see conftest.py).
"""

import json
import os

import pytest

pytestmark = pytest.mark.gpu

MLCI_ROOT = os.environ.get("MLCI_ROOT", "/srv/mlci")
JENKINS_PORT = int(os.environ.get("MLCI_JENKINS_PORT", "8080"))
CUDA_IMAGE = os.environ.get("MLCI_CUDA_IMAGE", "nvidia/cuda:12.4.1-base-ubuntu22.04")
COMPOSE = "$(docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)"


def test_nvidia_driver_answers(host):
    gpus = host.check_output("nvidia-smi --query-gpu=name,driver_version --format=csv,noheader")
    assert gpus.strip(), "nvidia-smi lists no GPU"


def test_docker_has_the_nvidia_runtime(host):
    options = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert "nvidia" in options.get("runtimes", {})
    assert options["log-driver"] == "json-file"


def test_a_container_sees_the_gpus(host):
    listed = host.run(f"docker run --rm --gpus all {CUDA_IMAGE} nvidia-smi -L")
    assert listed.rc == 0, listed.stderr
    assert "GPU 0" in listed.stdout


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
