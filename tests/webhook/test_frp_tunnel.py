"""The rendered tunnel with the real frp 0.65.0: the webhook crosses it intact, nothing else reaches Jenkins.

The corpus holds what frps' prefix route lets through on its own (it forwards the target verbatim and
Jenkins normalizes behind it) and what a lenient parser would let through; after each request the
stand-in of Jenkins must have seen nothing at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from frp_support import DOMAIN, FRP_TOKEN, WEBHOOK_TOKEN, raw_request, wait_until, webhook

pytestmark = pytest.mark.slow

PATH = "/generic-webhook-trigger/invoke"
BODY = b'{"head":"abc123","base":"def456","pr":"7"}'


def test_rendered_configs_pass_frps_and_frpc_verify(rendered, frp_bin, tmp_path) -> None:
    for name, binary in (("compose/frpc.toml", "frpc"), ("compose/frps.example.toml", "frps")):
        path = tmp_path / name.replace("/", "_")
        path.write_text(rendered[name])
        verify = subprocess.run([str(frp_bin / binary), "verify", "-c", str(path)], capture_output=True, text=True)
        assert verify.returncode == 0 and "syntax is ok" in verify.stdout, verify.stdout + verify.stderr
    # verify is strict: a key frpc does not know fails it (so the check above means something)
    broken = tmp_path / "broken.toml"
    broken.write_text(rendered["compose/frpc.toml"].replace("localPort", "localPortt"))
    verify = subprocess.run([str(frp_bin / "frpc"), "verify", "-c", str(broken)], capture_output=True, text=True)
    assert verify.returncode != 0


def test_the_release_webhook_reaches_jenkins_with_body_and_token_intact(clean) -> None:
    status, answer = clean.post(body=BODY, headers={"User-Agent": "curl/8.5.0", "Authorization": "Basic eDp5"})
    assert status == 200, answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["message"] == "Triggered jobs."
    (seen,) = clean.stand_in.take()
    assert (seen.method, seen.target, seen.body) == ("POST", PATH, BODY)
    assert seen.headers["token"] == WEBHOOK_TOKEN
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["user-agent"] == "curl/8.5.0"
    # nothing else of the sender's crosses: no credentials, no forwarding headers frps added
    assert "authorization" not in seen.headers and "x-forwarded-for" not in seen.headers


def test_a_large_body_with_expect_100_continue_arrives_whole(clean) -> None:
    body = json.dumps({"head": "a" * 40, "base": "b" * 40, "pr": "7", "pad": "x" * 200_000}).encode()
    status, answer = clean.post(body=body, headers={"Expect": "100-continue"})
    assert status == 200, answer[:500]
    (seen,) = clean.stand_in.take()
    assert seen.body == body


def _raw(line: str, *headers: str, body: bytes = BODY) -> bytes:
    """A request written byte for byte (for tricks a client library would refuse to send)."""
    head = [line, *headers, f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


GOOD = (f"Host: {DOMAIN}", "Content-Type: application/json", f"token: {WEBHOOK_TOKEN}")

TARGETS = {
    # traversal: what frps' prefix route forwards and Jenkins resolves
    "dot-segments": f"{PATH}/../../script",
    "dot-segments-github": "/github-webhook/../computer/",
    "dot-segment-self": f"{PATH}/./",
    "dot-segments-up-one": "/generic-webhook-trigger/../script",
    "trailing-slash": f"{PATH}/",
    "sub-path": f"{PATH}/extra",
    # percent-encoding
    "encoded-dots": f"{PATH}/%2e%2e/%2e%2e/script",
    "encoded-dots-upper": f"{PATH}/%2E%2E/%2E%2E/script",
    "encoded-slash": f"{PATH}%2f..%2f..%2fscript",
    "encoded-letter": "/generic-webhook-trigger/%69nvoke",
    "encoded-separator": "/generic-webhook-trigger%2finvoke",
    "double-encoded": f"{PATH}/%252e%252e/%252e%252e/script",
    "overlong-utf8-dots": f"{PATH}/%c0%ae%c0%ae/%c0%ae%c0%ae/script",
    "encoded-nul": f"{PATH}%00",
    # path parameters (Jetty and Tomcat strip ;params before routing)
    "path-parameter": f"{PATH};jsessionid=0",
    "path-parameter-traversal": f"{PATH}/..;/..;/script",
    "path-parameter-in-segment": "/generic-webhook-trigger;x=1/invoke",
    # prefixes and near misses
    "prefix-suffix": f"{PATH}X",
    "prefix-extension": f"{PATH}.json",
    "upper-case": "/Generic-Webhook-Trigger/invoke",
    "double-slash-front": f"/{PATH}",
    "double-slash-middle": "/generic-webhook-trigger//invoke",
    # queries: the token travels in the header only
    "query-token": f"{PATH}?token={WEBHOOK_TOKEN}",
    "empty-query": f"{PATH}?",
    "query-traversal": f"{PATH}?/../../script",
    # backslashes (normalized to / by some servers)
    "backslash-traversal": f"{PATH}\\..\\..\\script",
    "backslash-separator": "/generic-webhook-trigger\\invoke",
}

CORPUS = {name: _raw(f"POST {target} HTTP/1.1", *GOOD) for name, target in TARGETS.items()}
CORPUS |= {
    f"method-{method}": webhook(method=method) for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "post")
}
CORPUS |= {
    "method-HEAD": _raw(f"HEAD {PATH} HTTP/1.1", *GOOD, body=b""),
    "host-jenkins": webhook(host="jenkins:8080"),
    "host-other": webhook(host="localhost"),
    "host-suffix": webhook(host=f"{DOMAIN}.evil.example"),
    "host-prefix": webhook(host=f"evil.{DOMAIN}"),
    "no-host": _raw(f"POST {PATH} HTTP/1.1", *GOOD[1:]),
    "absolute-form-traversal": _raw(f"POST http://{DOMAIN}{PATH}/../../script HTTP/1.1", *GOOD),
    "absolute-form-other-host": _raw(f"POST http://jenkins:8080{PATH} HTTP/1.1", *GOOD),
    "absolute-form-encoded": _raw(f"POST http://{DOMAIN}{PATH}/%2e%2e/%2e%2e/script HTTP/1.1", *GOOD),
    "no-token": webhook(token=None),
    "wrong-token": webhook(token="wh-guess"),
    "bearer-token-only": webhook(token=None, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}),
    "gitlab-token-only": webhook(token=None, headers={"X-Gitlab-Token": WEBHOOK_TOKEN}),
    "form-body-token": webhook(
        headers={"Content-Type": "application/x-www-form-urlencoded"}, body=f"token={WEBHOOK_TOKEN}".encode()
    ),
    "text-body": webhook(headers={"Content-Type": "text/plain"}),
    "oversized-body": _raw(f"POST {PATH} HTTP/1.1", *GOOD, body=b"{" + b" " * (1024 * 1024 + 1) + b"}"),
    "chunked-body": (
        f"POST {PATH} HTTP/1.1\r\n" + "\r\n".join(GOOD) + "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    + f"{len(BODY):x}\r\n".encode()
    + BODY
    + b"\r\n0\r\n\r\n",
    "smuggled-length-and-chunked": (
        f"POST {PATH} HTTP/1.1\r\n" + "\r\n".join(GOOD) + "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n0\r\n\r\nGET /script HTTP/1.1\r\nHost: jenkins\r\n\r\n"
    ).encode(),
    "two-tokens": _raw(f"POST {PATH} HTTP/1.1", *GOOD, "token: other"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_nothing_but_the_exact_webhook_reaches_jenkins(clean, name: str) -> None:
    status, answer = raw_request(clean.vhost_port, CORPUS[name])
    seen = clean.stand_in.take()
    assert seen == [], f"{name} reached Jenkins as {[(s.method, s.target) for s in seen]}"
    assert 400 <= status < 600, answer[:300]  # refused, not swallowed


def test_a_wrong_frp_token_is_refused(tunnel, frp_bin) -> None:
    env = {**os.environ, "FRP_TOKEN": FRP_TOKEN + "-wrong"}
    intruder = subprocess.run(
        [str(frp_bin / "frpc"), "-c", str(tunnel.work / "frpc.toml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert intruder.returncode != 0
    assert "token in login doesn't match token from configuration" in intruder.stdout + intruder.stderr
    # the real client still serves the route
    assert tunnel.post()[0] == 200
    tunnel.stand_in.take()


def test_frpc_reconnects_after_frps_restarts(tunnel) -> None:
    os.killpg(tunnel.frps.pid, signal.SIGTERM)
    tunnel.frps.wait(timeout=30)
    with pytest.raises(ConnectionRefusedError):  # nothing listens: the tunnel is down
        raw_request(tunnel.vhost_port, webhook())
    tunnel.frps = tunnel.start_frps()
    wait_until(tunnel.route_is_up, "frpc to log in again and re-register the route", timeout=120)
    tunnel.stand_in.take()
    status, answer = tunnel.post()
    assert status == 200, answer
    (seen,) = tunnel.stand_in.take()
    assert seen.target == PATH and seen.headers["token"] == WEBHOOK_TOKEN
