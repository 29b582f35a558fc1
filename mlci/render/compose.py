"""compose/docker-compose.yml and compose/frpc.toml: the stack on the controller host.

Layout on the host (Ansible's mlci_stack role copies it there): /srv/mlci/compose/ holds these
files and `.env` (DOCKER_GID); /srv/mlci/secrets/<NAME> the secrets (0400); /srv/mlci/jenkins/
and mlci's source (pyproject.toml, README.md, mlci/) the controller image's build context.
"""

from __future__ import annotations

from typing import Any

from mlci.render import pins
from mlci.render.model import JENKINS_PORT, SECRETS_DIR, WEBHOOK_PATHS, Facts
from mlci.render.syntax import Verbatim, compose_escape, dump_toml, dump_yaml, escape_strings

FRPC_CONFIG = "/etc/frp/frpc.toml"


def render_compose(facts: Facts) -> str:
    m = facts.manifest
    home, runs = m.jenkins.home, m.jenkins.runs_dir
    jenkins_secrets = [s.name for s in facts.secrets if s.service == "jenkins"]
    services: dict[str, Any] = {
        "jenkins": {
            "build": _jenkins_build(facts),
            "image": f"mlci-{m.name}-jenkins:local",
            "restart": "unless-stopped",
            # The socket's group on the host, written to .env by Ansible: lets the jenkins user use Docker.
            "group_add": [Verbatim("${DOCKER_GID:?DOCKER_GID must be set in .env (the docker socket's group id)}")],
            "environment": {
                "JENKINS_HOME": home,
                # Stage containers are started on the host's engine (DooD): the cache they mount must be
                # a host path too, so it lives in the home that has the same path inside and out.
                "MLCI_CACHE_DIR": f"{home}/mlci-cache",
                # Run records (stage outputs included) on the host, outside any workspace: `mlci status`
                # on the host sees them, and the approval's later publish finds them.
                "MLCI_RUNS_DIR": runs,
                # The plugins baked into the image replace older ones in the persistent home.
                "PLUGINS_FORCE_UPGRADE": "true",
                "TRY_UPGRADE_IF_NO_MARKER": "true",
            },
            "ports": [f"{_bind(m.jenkins.bind)}:{JENKINS_PORT}:{JENKINS_PORT}"],
            "volumes": [
                "/var/run/docker.sock:/var/run/docker.sock",
                # Same path inside and out, so paths in `docker run -v` from builds resolve on the host.
                f"{home}:{home}",
                f"{runs}:{runs}",
                # the host's GPU inventory (Ansible's nvidia_gpu_inventory): leases by UUID, cdi or legacy requests
                "/etc/mlci:/etc/mlci:ro",
                # local stores on the host: a publish on the controller must land there, not in the container
                *(f"{path}:{path}" for path in facts.local_store_dirs()),
            ],
            "secrets": jenkins_secrets,
            "healthcheck": {
                "test": ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://localhost:{JENKINS_PORT}/login"],
                "interval": "30s",
                "timeout": "10s",
                "retries": 5,
                "start_period": "180s",
            },
        }
    }
    volumes: dict[str, Any] = {}
    if m.portainer.enabled:
        password = m.portainer.admin_password
        services["portainer"] = {
            "image": pins.PORTAINER_IMAGE,
            "restart": "unless-stopped",
            # The admin password from a secret: an unattended `up -d` never leaves Portainer waiting
            # for its first login (it locks itself after 5 minutes without one).
            "command": ["-H", "unix:///var/run/docker.sock", "--admin-password-file", f"/run/secrets/{password}"],
            "ports": [f"{_bind(m.portainer.bind)}:{m.portainer.port}:9443"],
            "volumes": ["/var/run/docker.sock:/var/run/docker.sock", "portainer_data:/data"],
            "secrets": [password],
        }
        volumes["portainer_data"] = {}
    if m.webhook.frp:
        token = m.webhook.frp.token
        services["frpc"] = {
            "image": pins.FRPC_IMAGE,
            "restart": "unless-stopped",
            "depends_on": ["jenkins"],
            "volumes": [f"./frpc.toml:{FRPC_CONFIG}:ro"],
            "secrets": [token],
            # frpc reads the token from its environment ({{ .Envs.NAME }}); the value comes from the
            # Docker secret at start, so it is never in the compose file, .env or `docker inspect`.
            "entrypoint": [
                "/bin/sh",
                "-c",
                f'{token}="$(cat /run/secrets/{token})" exec /usr/bin/frpc -c {FRPC_CONFIG}',
            ],
        }
    # No top-level `name:`: compose v1 (Debian 12's docker-compose) rejects it. The project name
    # comes from COMPOSE_PROJECT_NAME in .env, which Ansible writes (mlci_project_name).
    data: dict[str, Any] = {"services": services}
    if volumes:
        data["volumes"] = volumes
    data["secrets"] = {s.name: {"file": f"../{SECRETS_DIR}/{s.filename}"} for s in facts.secrets}
    return dump_yaml(escape_strings(data, compose_escape))


# ---- issue 10: the controller image's own build context, bind addresses, frps example


def _bind(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _jenkins_build(facts: Facts) -> dict[str, Any]:
    """jenkins/ alone is the build context (its .dockerignore admits only what the image copies), so no
    compose version or builder can send the Jenkins home, the secrets or the team's tree."""
    build: dict[str, Any] = {
        "context": "../jenkins",
        "dockerfile": "Dockerfile",
        # Docker's predefined proxy arguments, taken from the environment when set (build.ca_bundle
        # and these make the image build behind a proxy).
        "args": ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"],
    }
    if facts.manifest.build.network != "default":
        build["network"] = facts.manifest.build.network
    return build


def render_frps_example(facts: Facts) -> str:
    """What the frps side needs (run by the team on the public machine; TLS terminates in front of it)."""
    frp = facts.manifest.webhook.frp
    assert frp is not None
    top = {
        "bindPort": frp.port,
        "vhostHTTPPort": frp.vhost_http_port,
        "auth.method": "token",
        "auth.token": f"{{{{ .Envs.{frp.token} }}}}",
        "transport.tls.force": True,
    }
    return dump_toml(top, {})


def render_frpc(facts: Facts) -> str:
    frp = facts.manifest.webhook.frp
    assert frp is not None and facts.webhook_domain  # checked before rendering
    top = {
        "serverAddr": frp.server,
        "serverPort": frp.port,
        "auth.method": "token",
        "auth.token": f"{{{{ .Envs.{frp.token} }}}}",
        "transport.tls.enable": True,
    }
    proxy = {
        "name": "jenkins-webhooks",
        "type": "http",
        "localIP": "jenkins",
        "localPort": JENKINS_PORT,
        "customDomains": [facts.webhook_domain],
        # Only these path prefixes are routed; every other Jenkins path is unreachable through frp.
        "locations": list(WEBHOOK_PATHS),
    }
    return dump_toml(top, {"proxies": [proxy]})
