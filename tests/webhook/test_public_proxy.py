"""The rendered compose/nginx.example.conf in front of the tunnel, with Debian's nginx on 127.0.0.1.

    client ──TLS──► nginx (the rendered server block) ──► frps ══ frpc ──► filter ──► stand-in of Jenkins

Only the listen address, the certificate paths and frps' port are rewritten; a self-signed certificate
for the webhook name stands in for the real one.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import BODY, CORPUS, PATH
from frp_support import DOMAIN, WEBHOOK_TOKEN, free_port, nginx_binary, wait_until, webhook

pytestmark = pytest.mark.slow


@dataclass
class Public:
    port: int
    work: Path

    def send(self, request: bytes) -> tuple[int, bytes]:
        context = ssl.create_default_context(cafile=str(self.work / "cert.pem"))
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
        ):
            tls.sendall(request)
            answer = b""
            while chunk := _recv(tls):
                answer += chunk
        statuses = [int(s) for s in re.findall(rb"^HTTP/1\.[01] ([0-9]{3})", answer, re.M) if not s.startswith(b"1")]
        return (statuses[-1] if statuses else 0), answer


def _recv(tls: ssl.SSLSocket) -> bytes:
    try:
        return tls.recv(65536)
    except (ConnectionResetError, ssl.SSLError):
        return b""


def nginx_config(rendered: str, work: Path, port: int, vhost_port: int) -> str:
    server = rendered.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    server = server.replace("    listen [::]:443 ssl;\n", "")  # loopback only, and IPv6 may be absent here
    server = re.sub(r"ssl_certificate /\S+;", f"ssl_certificate {work}/cert.pem;", server)
    server = re.sub(r"ssl_certificate_key /\S+;", f"ssl_certificate_key {work}/key.pem;", server)
    assert server.count("proxy_pass http://127.0.0.1:8080;") == 1
    server = server.replace("proxy_pass http://127.0.0.1:8080;", f"proxy_pass http://127.0.0.1:{vhost_port};")
    (work / "mlci-webhook.conf").write_text(server)
    temp = " ".join(f"{kind}_temp_path {work}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # The main file a Debian nginx.conf would be, reduced to what a run in a scratch directory needs.
    return (
        f"user root; daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log;\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{ access_log {work}/access.log; {temp} include {work}/mlci-webhook.conf; }}\n"
    )


@pytest.fixture(scope="module")
def public(tunnel, rendered, tmp_path_factory) -> Iterator[Public]:
    work = tmp_path_factory.mktemp("public")
    certificate = ["-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN}", "-days", "2"]
    files = ["-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem"]
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", *certificate, *files], check=True)
    port = free_port()
    (work / "nginx.conf").write_text(
        nginx_config(rendered["compose/nginx.example.conf"], work, port, tunnel.vhost_port)
    )
    binary = str(nginx_binary())
    check = subprocess.run([binary, "-t", "-p", str(work), "-c", f"{work}/nginx.conf"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    nginx = subprocess.Popen(
        [binary, "-p", str(work), "-c", f"{work}/nginx.conf"],
        stdout=subprocess.DEVNULL,
        stderr=(work / "nginx.out").open("wb"),
        start_new_session=True,
    )
    public = Public(port, work)
    try:
        wait_until(lambda: _answers(public), "nginx to answer")
        yield public
    finally:
        os.killpg(nginx.pid, signal.SIGTERM)
        nginx.wait(timeout=30)


def _answers(public: Public) -> bool:
    try:
        return public.send(webhook(method="GET", body=b""))[0] != 0
    except OSError:
        return False


def test_the_webhook_crosses_nginx_and_the_tunnel_intact(public, clean) -> None:
    status, answer = public.send(webhook(body=BODY))
    assert status == 200, answer
    (seen,) = clean.stand_in.take()
    assert (seen.method, seen.target, seen.body, seen.headers["token"]) == ("POST", PATH, BODY, WEBHOOK_TOKEN)


# Paths nginx's `location =` would match after its own normalization: the raw-target check refuses
# them in nginx itself (its own 404 page), before frps.
NORMALIZED_BY_NGINX = [
    "/generic-webhook-trigger/%69nvoke",
    "/generic-webhook-trigger/x/../invoke",
    "/generic-webhook-trigger/./invoke",
    "//generic-webhook-trigger/invoke",
    "/generic-webhook-trigger//invoke",
    f"{PATH}?token={WEBHOOK_TOKEN}",
    "/generic-webhook-trigger/invok%65",
]


@pytest.mark.parametrize("target", NORMALIZED_BY_NGINX)
def test_nginx_matches_the_raw_target_exactly(public, clean, target: str) -> None:
    status, answer = public.send(webhook(target))
    assert status == 404 and b"<center>nginx" in answer, answer[:300]
    assert clean.stand_in.take() == []


def test_nginx_refuses_other_methods_itself(public, clean) -> None:
    status, answer = public.send(webhook(method="PUT"))
    assert status == 405 and b"<center>nginx" in answer, answer[:300]
    assert clean.stand_in.take() == []


def test_nginx_reframes_a_chunked_webhook_and_it_arrives_whole(public, clean) -> None:
    """nginx reads a chunked body whole and sends it on with a Content-Length (proxy_request_buffering),
    so a chunked webhook is the same request as the plain one here; the filter alone would refuse it."""
    status, answer = public.send(CORPUS["chunked-body"])
    assert status == 200, answer
    assert [s.body for s in clean.stand_in.take()] == [BODY]


@pytest.mark.parametrize("name", sorted(set(CORPUS) - {"chunked-body"}))
def test_nothing_but_the_exact_webhook_reaches_jenkins_through_nginx(public, clean, name: str) -> None:
    status, answer = public.send(CORPUS[name])
    seen = clean.stand_in.take()
    assert seen == [], f"{name} reached Jenkins as {[(s.method, s.target) for s in seen]}"
    assert 400 <= status < 500, answer[:300]
