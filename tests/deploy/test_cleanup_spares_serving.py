"""The cleanup backstops never remove a serving container: it carries the job id of the run its
version came from, and that run's record is finished in this checkout — exactly what `mlci cleanup
PROJECT --job ID` and the leftover cleanup of `mlci run` remove for a stage container."""

from __future__ import annotations

import pytest

from mlci.run.ownership import clean_leftovers
from tests.deploy.conftest import serving, undeploy

pytestmark = pytest.mark.docker


def test_cleanup_removes_the_jobs_stage_containers_but_not_the_serving_one(scratch, docker_client):
    undeploy(docker_client, scratch)
    assert scratch.deploy("--version", "v1").returncode == 0
    served = serving(docker_client, scratch)["Id"]
    # a stage container of the same job, left by an mlci without owner labels: the backstops' target
    stage = docker_client.api.create_container(
        scratch.image, ["sleep", "60"], labels={"mlci.project": "digits", "mlci.job": "j1", "mlci.env": scratch.env}
    )["Id"]

    done = scratch.mlci("cleanup", "digits", "--job", "j1")
    assert done.returncode == 0, done.stderr
    assert "removed 1 leftover container(s)" in done.stdout
    assert not docker_client.api.containers(all=True, filters={"id": stage})
    assert serving(docker_client, scratch)["Id"] == served

    said: list[str] = []
    stage = docker_client.api.create_container(
        scratch.image, ["sleep", "60"], labels={"mlci.project": "digits", "mlci.job": "j1", "mlci.env": scratch.env}
    )["Id"]
    clean_leftovers(docker_client, scratch.root, "digits", said.append)
    assert not docker_client.api.containers(all=True, filters={"id": stage})
    assert said == ["removed 1 leftover container(s) of interrupted job j1"]
    info = serving(docker_client, scratch)
    assert info["Id"] == served and info["State"]["Running"]
