"""`mlci cleanup PROJECT --job ID` on the real engine: the Jenkins library's backstop removes the
containers of exactly one project's job, running or stopped, and nothing else — not another job
of the same project, not another project of the same job (a release build gives all its projects
one job id), not a container without mlci's labels."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.docker


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlci", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def containers(docker_client, base_image):
    tag = uuid.uuid4().hex[:8]
    job, other_job = f"3f2a9c1d5e7b-mlci-release-{tag}", f"3f2a9c1d5e7b-mlci-release-{tag}x"
    made = {}

    def make(key: str, labels: dict[str, str], running: bool = True) -> None:
        name = f"mlci-cleanup-test-{tag}-{key}"
        if running:
            made[key] = docker_client.containers.run(
                base_image, ["sleep", "600"], name=name, labels=labels, detach=True, network_mode="none"
            )
        else:
            made[key] = docker_client.containers.create(base_image, ["true"], name=name, labels=labels)

    project = f"cleanup-{tag}"
    make("mine-running", {"mlci.project": project, "mlci.job": job, "mlci.stage": "train"})
    make("mine-created", {"mlci.project": project, "mlci.job": job, "mlci.stage": "eval"}, running=False)
    make("other-job", {"mlci.project": project, "mlci.job": other_job})
    make("other-project", {"mlci.project": f"{project}-b", "mlci.job": job})
    make("unlabelled", {})
    yield {"project": project, "job": job, "made": made}
    for container in made.values():
        subprocess.run(["docker", "rm", "-f", container.id], capture_output=True, check=False)


def _exists(docker_client, container) -> bool:
    from docker.errors import NotFound

    try:
        docker_client.containers.get(container.id)
        return True
    except NotFound:
        return False


def test_removes_only_the_containers_of_that_project_and_job(docker_client, containers):
    made = containers["made"]
    done = _cli("cleanup", containers["project"], "--job", containers["job"])
    assert done.returncode == 0, done.stderr
    assert "removed 2 leftover container(s)" in done.stdout
    assert not _exists(docker_client, made["mine-running"])
    assert not _exists(docker_client, made["mine-created"])
    for key in ("other-job", "other-project", "unlabelled"):
        assert _exists(docker_client, made[key]), key
        assert docker_client.containers.get(made[key].id).status == "running", key

    again = _cli("cleanup", containers["project"], "--job", containers["job"])
    assert again.returncode == 0 and "no containers left" in again.stdout


@pytest.mark.parametrize(
    ("project", "job", "words"),
    [
        ("Vision;id", "abc", "is not a project name"),
        ("vision", "a b", "is not a job id"),
        ("vision", "abc\n", "is not a job id"),
        ("vision", "-x", "is not a job id"),
    ],
)
def test_bad_names_are_usage_errors(project, job, words):
    done = _cli("cleanup", project, "--job", job)
    assert done.returncode == 2
    assert words in done.stderr and "Traceback" not in done.stderr
