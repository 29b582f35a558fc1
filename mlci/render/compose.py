"""compose/docker-compose.yml and compose/frpc.toml: the stack on the controller host.

Layout on the host (Ansible's mlci_stack role copies it there): /srv/mlci/compose/ holds these
files and `.env` (DOCKER_GID); /srv/mlci/secrets/<NAME> the secrets (0400); /srv/mlci/jenkins/
and mlci's source (pyproject.toml, README.md, mlci/) the controller image's build context.
"""

from __future__ import annotations

from typing import Any

from mlci.render import mlflow_server, pins
from mlci.render.model import CONTROLLER_SELF_ADDRESS, JENKINS_PORT, SECRETS_DIR, WEBHOOK_PATHS, Facts
from mlci.render.syntax import Verbatim, compose_escape, dump_toml, dump_yaml, escape_strings

FRPC_CONFIG = "/etc/frp/frpc.toml"
JENKINS_USER_HOME = "/var/jenkins_home"  # the jenkins user's HOME in the official image
JENKINS_USER_HOME_VOLUME = "jenkins_user_home"
# The webhook filter (python -m mlci.webhook): frpc's only target, and the only path from frpc to Jenkins.
WEBHOOK_FILTER = "webhook-filter"
WEBHOOK_FILTER_PORT = 8081
WEBHOOK_NETWORK = "webhook"  # frpc and the filter only: frpc cannot reach Jenkins or Portainer at all
DASHBOARD_PORT = 8765  # inside its container; dashboard.port is the host's side


def render_compose(facts: Facts) -> str:
    m = facts.manifest
    home, runs = m.jenkins.home, m.jenkins.runs_dir
    jenkins_secrets = [s.name for s in facts.secrets if s.service == "jenkins"]
    services: dict[str, Any] = {
        "jenkins": {
            "build": _jenkins_build(facts),
            "image": _jenkins_image(facts),
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
                # local stores on the host, when builds (and so publishes) run in this container: only
                # without hosts; with hosts every publish runs on an agent, which Ansible gives the stores
                *(f"{path}:{path}" for path in (facts.local_store_dirs() if facts.controller_runs_builds else [])),
                # The jenkins user's HOME (the image's /var/jenkins_home, a VOLUME): named, so registry
                # logins and git config of the controller's own steps survive a recreate.
                f"{JENKINS_USER_HOME_VOLUME}:{JENKINS_USER_HOME}",
                # the host's GPU inventory (Ansible's nvidia_gpu_inventory) for builds run in this container
                *(["/etc/mlci:/etc/mlci:ro"] if facts.controller_runs_builds else []),
            ],
            "secrets": jenkins_secrets,
            **_self_agent(facts),
            "healthcheck": {
                "test": ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://localhost:{JENKINS_PORT}/login"],
                "interval": "30s",
                "timeout": "10s",
                "retries": 5,
                "start_period": "180s",
            },
        }
    }
    volumes: dict[str, Any] = {JENKINS_USER_HOME_VOLUME: {}}
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
    if mlflow_server.server(facts) is not None:
        mlflow = mlflow_server.server(facts)
        services[mlflow_server.SERVICE] = mlflow_server.compose_service(facts, _bind(mlflow.bind))
        # Jenkins' own runs (and `mlci track` in it) reach the server by its service name
        services["jenkins"]["environment"]["MLFLOW_TRACKING_URI"] = (
            m.tracking.mlflow.uri or f"http://{mlflow_server.SERVICE}:{mlflow_server.CONTAINER_PORT}"
        )
    networks: dict[str, Any] = {}
    if m.dashboard.enabled:
        services["dashboard"] = _dashboard_service(facts)
    if m.webhook.frp:
        services[WEBHOOK_FILTER] = _webhook_filter(facts)
        token = m.webhook.frp.token
        services["frpc"] = {
            "image": pins.FRPC_IMAGE,
            "restart": "unless-stopped",
            "depends_on": [WEBHOOK_FILTER],
            "networks": [WEBHOOK_NETWORK],
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
        networks[WEBHOOK_NETWORK] = {}
    # No top-level `name:`: compose v1 (Debian 12's docker-compose) rejects it. The project name
    # comes from COMPOSE_PROJECT_NAME in .env, which Ansible writes (mlci_project_name).
    data: dict[str, Any] = {"services": services, "volumes": volumes}
    if networks:
        data["networks"] = networks
    data["secrets"] = {s.name: {"file": f"../{SECRETS_DIR}/{s.filename}"} for s in facts.secrets}
    return dump_yaml(escape_strings(data, compose_escape))


# ---- the controller image's own build context, bind addresses, frps example


def _jenkins_image(facts: Facts) -> str:
    return f"mlci-{facts.manifest.name}-jenkins:local"


def _webhook_filter(facts: Facts) -> dict[str, Any]:
    """The controller image's mlci runs the filter: no image to pull or build, nothing but the stdlib used.
    Compose builds the image for `jenkins` first (depends_on) and never pulls it (v2 skips images another
    service builds)."""
    m = facts.manifest
    assert facts.webhook_domain  # checked before rendering
    return {
        "image": _jenkins_image(facts),
        "restart": "unless-stopped",
        "depends_on": ["jenkins"],
        "entrypoint": [
            "/opt/mlci/bin/python",
            "-m",
            "mlci.webhook",
            "--listen",
            f"0.0.0.0:{WEBHOOK_FILTER_PORT}",
            "--upstream",
            f"jenkins:{JENKINS_PORT}",
            "--host",
            facts.webhook_domain,
            "--token-file",
            f"/run/secrets/{m.webhook.token}",
            # the deploy route may name these environments only (mlci/webhook/deploy.py)
            *(arg for env in sorted(m.environments) for arg in ("--environment", env)),
        ],
        # The same file Jenkins reads (0400, the jenkins uid, which the image's user is).
        "secrets": [m.webhook.token],
        "networks": ["default", WEBHOOK_NETWORK],
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
    }


def _bind(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _self_agent(facts: Facts) -> dict[str, Any]:
    """The controller's host is also an SSH agent: the container reaches its sshd by this name, which
    Docker (20.10+) resolves to the host's address on the default bridge (`host-gateway`)."""
    if not facts.controller_is_agent:
        return {}
    return {"extra_hosts": [f"{CONTROLLER_SELF_ADDRESS}:host-gateway"]}


def _dashboard_service(facts: Facts) -> dict[str, Any]:
    """`mlci dashboard` on the controller's image (built by the jenkins service) over the host's runs
    directory, mounted read-only; published like Jenkins (loopback unless dashboard.bind says)."""
    m = facts.manifest
    runs, port = m.jenkins.runs_dir, DASHBOARD_PORT
    return {
        "image": f"mlci-{m.name}-jenkins:local",
        "restart": "unless-stopped",
        "depends_on": ["jenkins"],  # its image is the one the jenkins service builds
        "entrypoint": ["mlci", "dashboard", "--bind", "0.0.0.0", "--port", str(port), "--runs-dir", runs],
        "environment": {"MLCI_LANG": m.locale},
        "ports": [f"{_bind(m.dashboard.bind)}:{m.dashboard.port}:{port}"],
        "volumes": [f"{runs}:{runs}:ro"],
        "healthcheck": {
            "test": ["CMD", "curl", "-fsS", "-o", "/dev/null", f"http://localhost:{port}/"],
            "interval": "30s",
            "timeout": "10s",
            "retries": 3,
        },
    }


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
        # The vhost port only on loopback: the public reaches it through the TLS proxy in front
        # (compose/nginx.example.conf), which matches the webhook exactly.
        "proxyBindAddr": "127.0.0.1",
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
        # Never Jenkins itself: frps routes by path prefix and forwards the target verbatim, so the
        # filter decides (exact target, POST, token) and writes the request Jenkins gets.
        "localIP": WEBHOOK_FILTER,
        "localPort": WEBHOOK_FILTER_PORT,
        "customDomains": [facts.webhook_domain],
        # A first, coarse cut (frps matches prefixes); the filter behind frpc matches exactly.
        "locations": list(WEBHOOK_PATHS),
    }
    return dump_toml(top, {"proxies": [proxy]})
