"""`mlci itest` against the deployed digits service: passes against a good version, fails (exit 1)
against one that answers wrong, is stopped and removed at its timeout, and is a usage error (exit 2)
when there is nothing to test; the typed result the promotion gate will record."""

from __future__ import annotations

import pytest

from mlci.deploy.actions import itest_project
from mlci.manifest import load_manifest
from tests.deploy.conftest import SECRET_VALUE, serve_settings, undeploy

pytestmark = pytest.mark.docker


def itest_containers(docker_client, scratch) -> list[dict]:
    return docker_client.api.containers(all=True, filters={"label": ["mlci.itest=1", f"mlci.env={scratch.env}"]})


def test_itest_passes_against_a_good_version_and_fails_against_a_wrong_one(scratch, docker_client, capfd):
    undeploy(docker_client, scratch)
    assert scratch.deploy("--version", "v2").returncode == 0
    passed = scratch.mlci("itest", "digits", "--env", scratch.env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "itest: 100 held-out digits, accuracy" in passed.stdout  # streamed from the container
    assert "✓ itest passed: digits v2" in passed.stdout
    log = scratch.root / ".mlci" / "deploy" / f"{scratch.env}-digits-v2-itest.log"
    assert "accuracy" in log.read_text() and f"http://{scratch.name}:8080" in log.read_text()
    assert SECRET_VALUE not in passed.stdout + passed.stderr + log.read_text()

    result = itest_project(scratch.root, load_manifest(scratch.root), "digits", scratch.env, echo=False)
    assert (result.version, result.passed, result.exit_code, result.timed_out) == ("v2", True, 0, False)
    assert result.log == log and result.seconds > 0

    assert scratch.deploy("--version", "v4").returncode == 0  # healthy, but always answers 0
    failed = scratch.mlci("itest", "digits", "--env", scratch.env)
    assert failed.returncode == 1
    assert "accuracy 0.1" in failed.stdout and "✗ itest failed: digits v4" in failed.stderr
    result = itest_project(scratch.root, load_manifest(scratch.root), "digits", scratch.env, echo=False)
    assert (result.version, result.passed, result.exit_code) == ("v4", False, 1)
    assert itest_containers(docker_client, scratch) == []


def test_an_itest_past_its_timeout_is_stopped_and_removed(scratch, docker_client):
    undeploy(docker_client, scratch)
    assert scratch.deploy("--version", "v1").returncode == 0
    with serve_settings(scratch, "itest: {run: python src/itest.py", "itest: {run: 'echo started; sleep 300'"):
        slow = scratch.mlci("itest", "digits", "--env", scratch.env, "--timeout", "2s")
    assert slow.returncode == 1
    assert "started" in slow.stdout and "timed out" in slow.stderr
    assert itest_containers(docker_client, scratch) == []


def test_nothing_to_test_is_a_usage_error(scratch, docker_client):
    nothing = scratch.mlci("itest", "digits", "--env", scratch.other_env)
    assert nothing.returncode == 2 and "nothing of digits is deployed" in nothing.stderr
    with serve_settings(scratch, "  itest: {run: python src/itest.py, timeout: 2m}\n", ""):
        no_itest = scratch.mlci("itest", "digits", "--env", scratch.env)
    assert no_itest.returncode == 2 and "no serve.itest" in no_itest.stderr
    bad = scratch.mlci("itest", "digits", "--env", scratch.env, "--timeout", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
