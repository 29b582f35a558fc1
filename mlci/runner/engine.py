"""Connecting to the Docker engine: the one client factory every command uses, with errors that say
what to do."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from mlci.errors import MlciError

if TYPE_CHECKING:
    import docker

LABEL_PREFIX = "mlci."

# The longest one Docker API request may take (docker-py's `timeout`, in seconds). Creating or
# removing a container of a large image, pushing a layer or committing a build step can take longer
# than docker-py's default of 60 s on a busy host; what may legitimately take longer still (waiting
# for a stage, streaming a build) polls in short requests of its own.
API_TIMEOUT_S = 120
# `mlci doctor`: a hung engine must show up as a failed check within seconds, not after minutes.
PROBE_TIMEOUT_S = 10


class DockerUnreachable(MlciError):
    """The engine did not answer; `reason` is its first line, for callers that phrase it their own way."""

    def __init__(self, reason: str):
        super().__init__(
            f"cannot reach the Docker engine ({reason})",
            hint="start it (`systemctl start docker` or `dockerd &`), check DOCKER_HOST,"
            " and make sure your user may use /var/run/docker.sock (the docker group); `mlci doctor` checks this",
        )
        self.reason = reason


def connect(*, timeout: float = API_TIMEOUT_S) -> docker.DockerClient:
    """A client for the engine DOCKER_HOST (else the local socket) names, answering a ping."""
    # docker-py imports requests and urllib3 (~0.2 s): only the commands that talk to the engine pay for it
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise DockerUnreachable(_short(exc)) from None
    return client


@lru_cache(maxsize=4)
def _info(client_id: int, client: docker.DockerClient) -> dict:
    return client.info()


def engine_info(client: docker.DockerClient) -> dict:
    return _info(id(client), client)


def has_nvidia_runtime(client: docker.DockerClient) -> bool:
    """True when the engine knows the NVIDIA runtime (the Container Toolkit is configured)."""
    return "nvidia" in (engine_info(client).get("Runtimes") or {})


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
