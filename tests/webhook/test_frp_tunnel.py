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
from corpus import BODY, CORPUS, DEPLOY_BODY, PATH
from frp_support import FRP_TOKEN, WEBHOOK_TOKEN, raw_request, wait_until, webhook
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow


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


def test_a_deploy_request_crosses_the_same_door_rewritten(clean) -> None:
    """The rendered filter knows mlci.yaml's environments (qa, prod) from its command line."""
    sent = b'{"deploy": {"version": "v3", "env": "prod", "project": "digits"}, "deploy": ' + DEPLOY_BODY[10:]
    assert clean.post(body=sent)[0] == 400  # a repeated key: refused, never guessed at
    status, answer = clean.post(body=b'{"deploy": {"version": "v3", "env": "prod", "project": "digits"}}')
    assert status == 200, answer
    (seen,) = clean.stand_in.take()
    assert seen.target == PATH and seen.headers["token"] == WEBHOOK_TOKEN
    assert seen.body == b'{"deploy":{"env":"prod","project":"digits","version":"v3"}}'


def test_a_large_body_with_expect_100_continue_arrives_whole(clean) -> None:
    body = json.dumps({"head": "a" * 40, "base": "b" * 40, "pr": "7", "pad": "x" * 200_000}).encode()
    status, answer = clean.post(body=body, headers={"Expect": "100-continue"})
    assert status == 200, answer[:500]
    (seen,) = clean.stand_in.take()
    assert seen.body == body


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_nothing_but_the_exact_webhook_reaches_jenkins(clean, name: str) -> None:
    status, answer = raw_request(clean.vhost_port, CORPUS[name])
    seen = clean.stand_in.take()
    assert seen == [], f"{name} reached Jenkins as {[(s.method, s.target) for s in seen]}"
    assert 400 <= status < 500, answer[:300]  # refused, not swallowed or broken (a 502 would be)


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


def test_the_filter_service_runs_the_mlci_the_controller_image_installs(rendered) -> None:
    """The compose service borrows the controller image's venv: the Dockerfile must still make it."""
    dockerfile = rendered["jenkins/Dockerfile"]
    assert "python3 -m venv /opt/mlci" in dockerfile and "/opt/mlci/bin/pip install" in dockerfile
    assert "USER jenkins" in dockerfile  # the uid that owns the token file (0400)


FRAGMENTS = ["/", ".", "..", "%2e", "%2E", "%2f", "%5c", "%25", "%00", ";", "\\", "?", "#", "X", "%69"]
FRAGMENTS += ["generic-webhook-trigger", "invoke", "github-webhook", "script", "token=x", "/generic-webhook-trigger/"]


@given(
    target=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map(lambda parts: "/" + "".join(parts)),
    method=st.sampled_from(["POST", "GET", "PUT", "OPTIONS"]),
)
@settings(max_examples=150, deadline=None)
def test_fuzzed_targets_reach_jenkins_only_when_exact(tunnel, target: str, method: str) -> None:
    tunnel.stand_in.take()
    status, _ = raw_request(tunnel.vhost_port, webhook(target, method=method))
    seen = [(s.method, s.target) for s in tunnel.stand_in.take()]
    if (method, target) == ("POST", PATH):
        assert status == 200 and seen == [("POST", PATH)]
    else:
        assert seen == [] and 400 <= status < 500
