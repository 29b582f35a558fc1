"""Connecting to the Docker engine, with errors that say what to do."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from mlci.errors import MlciError

if TYPE_CHECKING:
    import docker

LABEL_PREFIX = "mlci."


def connect() -> docker.DockerClient:
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        raise MlciError(
            f"cannot reach the Docker engine ({_short(exc)})",
            hint="start it (`systemctl start docker` or `dockerd &`), check DOCKER_HOST,"
            " and make sure your user may use /var/run/docker.sock (the docker group)",
        ) from None
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
