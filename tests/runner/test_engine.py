"""The one Docker client factory (mlci/runner/engine.py): its timeouts, and its error when no engine answers."""

from __future__ import annotations

import pytest

from mlci.runner.engine import API_TIMEOUT_S, PROBE_TIMEOUT_S, DockerUnreachable, connect


@pytest.mark.docker
def test_clients_carry_the_documented_timeouts(docker_client):
    assert docker_client.api.timeout == API_TIMEOUT_S
    probe = connect(timeout=PROBE_TIMEOUT_S)
    assert probe.api.timeout == PROBE_TIMEOUT_S and probe.ping()


def test_an_unreachable_engine_is_one_error_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(DockerUnreachable) as info:
        connect()
    assert str(info.value).startswith("cannot reach the Docker engine (")
    assert "DOCKER_HOST" in (info.value.hint or "") and info.value.reason
