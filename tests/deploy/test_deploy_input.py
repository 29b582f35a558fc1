"""Hostile or wrong input to `mlci deploy` and `mlci itest` is exit 2 with a message that says what
to fix — before the Docker engine is contacted (DOCKER_HOST points nowhere here)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker  # the scratch repository's versions were made with the engine

NOWHERE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["deploy", "Digits", "--env", "{env}"], "not a valid project name"),
        (["deploy", "../digits", "--env", "{env}"], "not a valid project name"),
        (["deploy", "nope", "--env", "{env}"], "no project 'nope'"),
        (["deploy", "digits", "--env", "DEV"], "not an environment name"),
        (["deploy", "digits", "--env", "dev\nx"], "not an environment name"),
        (["deploy", "digits", "--env", "../x"], "not an environment name"),
        (["deploy", "digits", "--env", "prod"], "no environment 'prod'"),
        (["deploy", "digits", "--env", "{env}", "--version", "v0"], "not a model version"),
        (["deploy", "digits", "--env", "{env}", "--version", "v1;rm -rf /"], "not a model version"),
        (["deploy", "digits", "--env", "{env}", "--version", "1"], "not a model version"),
        (["deploy", "digits", "--env", "{env}", "--version", "v99"], "no version v99 of digits"),
        (["deploy", "digits", "--env", "{env}", "--version", "v1", "--by", "a b"], "not a user name"),
        (["deploy", "digits", "--env", "{env}", "--json"], "--json goes with --status"),
        (["deploy", "digits", "--env", "{env}", "--status", "--version", "v1"], "--status takes no --version"),
        (["itest", "digits", "--env", "DEV"], "not an environment name"),
        (["itest", "Digits", "--env", "{env}"], "not a valid project name"),
    ],
)
def test_refused_before_the_engine_is_contacted(scratch, args, expected):
    done = scratch.mlci(*[a.replace("{env}", scratch.env) for a in args], env=NOWHERE)
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stderr
    assert "Docker engine" not in done.stderr and "Traceback" not in done.stderr


def test_a_missing_environment_secret_is_named(scratch):
    unset = {**NOWHERE, "MLCI_TEST_DEPLOY_TOKEN": ""}
    done = scratch.mlci("deploy", "digits", "--env", scratch.env, "--version", "v1", env=unset)
    assert done.returncode == 2
    assert "secret MLCI_TEST_DEPLOY_TOKEN (environment" in done.stderr and "is not set" in done.stderr
