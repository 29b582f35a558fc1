"""One real frp tunnel per session, built from the files `mlci render` writes for a scratch manifest.

    client ──► frps (compose/frps.example.toml) ══ tunnel ══ frpc (compose/frpc.toml)
           ──► the webhook filter (the compose service's own command line) ──► stand-in of Jenkins

Only addresses and ports are rewritten (to free ports on 127.0.0.1); everything else is the rendered text.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from frp_support import (
    DOMAIN,
    FRP_TOKEN,
    WEBHOOK_TOKEN,
    WebhookStandIn,
    free_port,
    frp_binaries,
    raw_request,
    set_toml_value,
    wait_until,
    webhook,
)

from mlci.render import plan

MANIFEST = f"""\
version: 1
name: acme-ml
repository: {{url: https://github.com/acme/ml.git, branch: main, credentials: GITHUB_PAT}}
hosts:
  - {{name: gpu-01, address: 192.0.2.10, ssh_user: ubuntu, gpus: 1, roles: [controller, agent]}}
webhook: {{token: MLCI_WEBHOOK_TOKEN, frp: {{server: frps.acme.example, port: 7000, token: FRP_TOKEN,
          custom_domain: {DOMAIN}, vhost_http_port: 8080}}}}
artifacts: {{default: shelf, stores: {{shelf: {{type: local, path: /srv/mlci/artifacts}}}}}}
environments: {{qa: {{store: shelf, hosts: [gpu-01]}}, prod: {{store: shelf, hosts: [gpu-01], approval: true}}}}
"""


@dataclass
class Tunnel:
    frps_port: int
    vhost_port: int
    filter_port: int
    stand_in: WebhookStandIn
    work: Path
    bin: Path
    frps: subprocess.Popen
    frpc: subprocess.Popen

    def start_frps(self) -> subprocess.Popen:
        env = {**os.environ, "FRP_TOKEN": FRP_TOKEN}
        return _spawn([str(self.bin / "frps"), "-c", str(self.work / "frps.toml")], self.work / "frps.log", env)

    def route_is_up(self) -> bool:
        """frps answers 404 while no frpc serves the domain; the filter answers a GET with 405."""
        if not _listening(self.vhost_port):
            return False
        status, _ = raw_request(self.vhost_port, webhook(method="GET", body=b""), timeout=5)
        return status == 405

    def post(self, target: str = "/generic-webhook-trigger/invoke", **kw) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
        return raw_request(self.vhost_port, webhook(target, **kw))


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("webhook-repo")
    (root / "mlci.yaml").write_text(MANIFEST)
    (root / "projects").mkdir()
    return {f.path: f.content for f in plan(root)}


@pytest.fixture(scope="session")
def frp_bin() -> Path:
    return frp_binaries()


@pytest.fixture(scope="session")
def tunnel(rendered: dict[str, str], frp_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tunnel]:
    work = tmp_path_factory.mktemp("tunnel")
    frps_port, vhost_port, filter_port = free_port(), free_port(), free_port()
    stand_in = WebhookStandIn(WEBHOOK_TOKEN)
    server, jenkins_port = stand_in.start()

    # The filter, with the command line the compose service runs; only its addresses and files change.
    service = yaml.safe_load(rendered["compose/docker-compose.yml"])["services"]["webhook-filter"]
    argv = service["entrypoint"]
    assert argv[:3] == ["/opt/mlci/bin/python", "-m", "mlci.webhook"]
    (work / "webhook-token").write_text(WEBHOOK_TOKEN + "\n")
    local = {
        "--listen": f"127.0.0.1:{filter_port}",
        "--upstream": f"127.0.0.1:{jenkins_port}",
        "--token-file": str(work / "webhook-token"),
    }
    options = list(argv[3:])
    for i in range(0, len(options), 2):
        options[i + 1] = local.get(options[i], options[i + 1])
    webhook_filter = _spawn([sys.executable, "-m", "mlci.webhook", *options], work / "filter.log")

    frps_conf = rendered["compose/frps.example.toml"]
    frps_conf = set_toml_value(frps_conf, "bindPort", str(frps_port))
    frps_conf = set_toml_value(frps_conf, "vhostHTTPPort", str(vhost_port))
    frps_conf = set_toml_value(frps_conf, "proxyBindAddr", '"127.0.0.1"')
    (work / "frps.toml").write_text('bindAddr = "127.0.0.1"\n' + frps_conf)

    frpc_conf = rendered["compose/frpc.toml"]
    frpc_conf = set_toml_value(frpc_conf, "serverAddr", '"127.0.0.1"')
    frpc_conf = set_toml_value(frpc_conf, "serverPort", str(frps_port))
    frpc_conf = set_toml_value(frpc_conf, "localIP", '"127.0.0.1"')
    frpc_conf = set_toml_value(frpc_conf, "localPort", str(filter_port))
    (work / "frpc.toml").write_text(frpc_conf)

    env = {**os.environ, "FRP_TOKEN": FRP_TOKEN}
    t = Tunnel(frps_port, vhost_port, filter_port, stand_in, work, frp_bin, None, None)  # type: ignore[arg-type]
    try:  # whatever fails from here on, no process outlives the session
        t.frps = t.start_frps()
        wait_until(lambda: _listening(frps_port), "frps")
        t.frpc = _spawn([str(frp_bin / "frpc"), "-c", str(work / "frpc.toml")], work / "frpc.log", env)
        wait_until(t.route_is_up, "the webhook route through frps", timeout=60)
        yield t
    finally:
        for process in (t.frpc, t.frps, webhook_filter):
            if process is not None:
                _stop(process)
        server.shutdown()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def clean(tunnel: Tunnel) -> Tunnel:
    tunnel.stand_in.take()
    return tunnel
