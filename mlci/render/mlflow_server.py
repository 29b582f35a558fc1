"""The optional `mlflow` service of the compose stack (`tracking.mlflow.server.enabled`): a
tracking server with a sqlite backend and its artifacts on the host under `server.data_dir`,
published like Jenkins (loopback by default), its image built on the host from the base image.

Its build context is compose/mlflow/ alone (Dockerfile, .dockerignore, and build.ca_bundle as
ca-bundle.crt, copied there by Ansible), so the server installs through the same index and CA
bundle as every other image mlci builds, and nothing is pulled from a registry.
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import urlsplit

from mlci.manifest.tracking import MlflowServer
from mlci.render.model import Facts
from mlci.render.syntax import HEADER

MLFLOW_VERSION = "3.17.2"  # the server tests/track runs (3.18.0 does not install: a dependency is missing)
SERVICE = "mlflow"
CONTEXT = "compose/mlflow"
CONTAINER_PORT = 5000
CONTAINER_DATA = "/mlflow"  # the host's data_dir, mounted here: mlflow.db and artifacts/
UID = 10001  # the server's user in the image; Ansible makes data_dir this user's
CA_BUNDLE_FILE = "ca-bundle.crt"


def server(facts: Facts) -> MlflowServer | None:
    mlflow = facts.manifest.tracking.mlflow
    return mlflow.server if mlflow is not None and mlflow.server.enabled else None


def compose_service(facts: Facts, bind: str) -> dict[str, Any]:
    """The service; `bind` is the published address, bracketed for IPv6 like Jenkins'."""
    settings = server(facts)
    assert settings is not None
    build: dict[str, Any] = {
        "context": "./mlflow",
        "dockerfile": "Dockerfile",
        "args": ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"],
    }
    if facts.manifest.build.network != "default":
        build["network"] = facts.manifest.build.network
    return {
        "build": build,
        "image": f"mlci-{facts.manifest.name}-mlflow:{MLFLOW_VERSION}",
        "restart": "unless-stopped",
        "user": f"{UID}:{UID}",
        "command": [
            "mlflow",
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            str(CONTAINER_PORT),
            "--backend-store-uri",
            f"sqlite:///{CONTAINER_DATA}/mlflow.db",
            # served by the server itself (mlflow-artifacts:/): clients upload over HTTP, never to a path
            "--artifacts-destination",
            f"{CONTAINER_DATA}/artifacts",
            # the published address reaches it under this host's names and the stack's service name
            "--allowed-hosts",
            ",".join(allowed_hosts(facts)),
        ],
        "ports": [f"{bind}:{settings.port}:{CONTAINER_PORT}"],
        "volumes": [f"{settings.data_dir}:{CONTAINER_DATA}"],
        "healthcheck": {
            "test": [
                "CMD",
                "python3",
                "-c",
                f"import urllib.request; urllib.request.urlopen('http://localhost:{CONTAINER_PORT}/health')",
            ],
            "interval": "30s",
            "timeout": "10s",
            "retries": 5,
            "start_period": "60s",
        },
    }


def allowed_hosts(facts: Facts) -> list[str]:
    """The Host headers the server answers (its DNS-rebinding guard, --allowed-hosts): loopback, the
    stack's service name, the published address and the host of `tracking.mlflow.uri`."""
    mlflow = facts.manifest.tracking.mlflow
    assert mlflow is not None
    names = ["localhost", "127.0.0.1", SERVICE]
    if ":" not in mlflow.server.bind and mlflow.server.bind != "0.0.0.0":
        names.append(mlflow.server.bind)
    if mlflow.uri:
        host = urlsplit(mlflow.uri).hostname
        if host and ":" not in host:
            names.append(host)
    unique = list(dict.fromkeys(names))
    return [pattern for name in unique for pattern in (name, f"{name}:*")]


def render_dockerfile(facts: Facts) -> str:
    m = facts.manifest
    index = ["--index-url", m.build.pip_index_url] if m.build.pip_index_url else []
    pip_args = shlex.join([*index, f"mlflow=={MLFLOW_VERSION}"])
    lines = [
        f"# {HEADER}",
        "# The stack's MLflow tracking server (tracking.mlflow.server): the base image plus the pinned",
        "# server, installed through build.pip_index_url; data (sqlite + artifacts) lives on the host.",
        f"ARG BASE_IMAGE={m.build.base_image}",
        "FROM ${BASE_IMAGE}",
        "USER root",
    ]
    if m.build.ca_bundle:
        lines += [
            f"COPY {CA_BUNDLE_FILE} /usr/local/share/ca-certificates/mlci-ca-bundle.crt",
            "ENV PIP_CERT=/usr/local/share/ca-certificates/mlci-ca-bundle.crt",
        ]
    lines += [
        f"RUN python3 -m venv /opt/mlflow && /opt/mlflow/bin/pip install --no-cache-dir {pip_args}",
        f"RUN mkdir -p {CONTAINER_DATA} && chown {UID}:{UID} {CONTAINER_DATA}",
        "ENV PATH=/opt/mlflow/bin:$PATH",
        f"USER {UID}:{UID}",
        f"WORKDIR {CONTAINER_DATA}",
        f"EXPOSE {CONTAINER_PORT}",
    ]
    return "\n".join(lines) + "\n"


def render_dockerignore(facts: Facts) -> str:
    keep = [CA_BUNDLE_FILE] if facts.manifest.build.ca_bundle else []
    return "\n".join([f"# {HEADER}", "*", *(f"!{path}" for path in keep)]) + "\n"
