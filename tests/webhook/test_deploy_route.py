"""The deploy route: a body `{"deploy": {"project", "env", "version"}}` through the same door and token
as releases. The filter checks it field by field with mlci's own rules and forwards a body it writes
itself; every other body must be strict JSON and goes through byte for byte."""

from __future__ import annotations

import json
import re

import pytest
from corpus import BODY, DEPLOY_BODY, HOSTILE_DEPLOY_BODIES
from frp_support import WebhookStandIn, raw_request
from hypothesis import given, settings
from hypothesis import strategies as st
from test_webhook_server import BODY as SERVER_BODY
from test_webhook_server import HEAD, TOKEN, running_filter

from mlci import contract
from mlci.manifest.fields import NAME_RE
from mlci.record.parts import VERSION_PATTERN
from mlci.webhook import deploy
from mlci.webhook.deploy import Forward, judge_body
from mlci.webhook.rule import Policy, Refusal

ENVIRONMENTS = ("prod", "qa")
CANONICAL = b'{"deploy":{"env":"prod","project":"digits","version":"v3"}}'


def test_the_filter_s_rules_are_mlci_s():
    assert deploy.PROJECT_PATTERN == contract.PROJECT_PATTERN
    assert f"^{deploy.ENV_PATTERN}\\Z" == NAME_RE


@given(st.text(alphabet="v0123456789\n -", max_size=22))
@settings(max_examples=300)
def test_every_version_the_filter_admits_is_one_mlci_admits(text: str):
    if re.fullmatch(deploy.VERSION_PATTERN, text):
        assert re.fullmatch(VERSION_PATTERN, text)
    elif re.fullmatch(VERSION_PATTERN, text) and len(text) <= 19:
        pytest.fail(f"{text!r}: mlci takes it, the filter does not")


def test_a_release_body_goes_through_byte_for_byte():
    for body in (BODY, b'  {"head": "abc", "pr": "7"}\n', b"[1, 2]", b'"text"'):
        assert judge_body(body, ENVIRONMENTS) == Forward(body, "forwarded")


def test_a_deploy_body_is_rewritten_from_the_checked_values():
    sent = b'{ "deploy" : { "version": "v3", "env": "prod", "project": "digits" } }'
    assert judge_body(sent, ENVIRONMENTS) == Forward(CANONICAL, "forwarded deploy of digits v3 to prod")
    current = judge_body(b'{"deploy":{"project":"digits","env":"qa"}}', ENVIRONMENTS)
    assert isinstance(current, Forward) and json.loads(current.body) == {
        "deploy": {"project": "digits", "env": "qa", "version": ""}
    }
    assert current.note == "forwarded deploy of digits (current) to qa"
    empty = judge_body(b'{"deploy":{"project":"digits","env":"qa","version":""}}', ENVIRONMENTS)
    assert isinstance(empty, Forward) and empty.body == current.body


@pytest.mark.parametrize("name", sorted(HOSTILE_DEPLOY_BODIES))
def test_hostile_deploy_bodies_are_refused_without_echoing_them(name: str):
    verdict = judge_body(HOSTILE_DEPLOY_BODIES[name], ENVIRONMENTS)
    assert isinstance(verdict, Refusal) and verdict.status in (400, 422), verdict
    for fragment in ("reboot", "$(id)", "staging", "../", "&& id", "digits prod"):
        assert fragment not in verdict.why


def test_without_environments_nothing_can_be_deployed():
    verdict = judge_body(DEPLOY_BODY, ())
    assert isinstance(verdict, Refusal) and verdict.status == 422
    assert "declares no environments" in verdict.why


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"deploy":{"project":"digits","env":"staging"}}', "deploy.env must be one of the environments"),
        (b'{"deploy":{"project":"x;y","env":"prod"}}', "deploy.project must be a project name"),
        (b'{"deploy":{"project":"digits","env":"prod","version":"3"}}', "deploy.version must be a model version"),
        (b'{"deploy":{"project":"digits","env":"prod","user":"x"}}', "deploy takes only project, env, version"),
        (b'{"head":"a","head":"b"}', "repeats a key"),
        (b"{'head': 'a'}", "not strict JSON"),
    ],
)
def test_refusals_say_what_to_fix(body: bytes, why: str):
    verdict = judge_body(body, ENVIRONMENTS)
    assert isinstance(verdict, Refusal) and why in verdict.why


# ------------------------------------------------------------------ through the filter's HTTP side


@pytest.fixture(scope="module")
def jenkins():
    stand_in = WebhookStandIn(TOKEN)
    server, port = stand_in.start()
    yield stand_in, port
    server.shutdown()


POLICY = Policy("hooks.acme.example", (TOKEN.encode(),), max_body=100_000, environments=ENVIRONMENTS)


def request(body: bytes) -> bytes:
    head = HEAD.replace(f"Content-Length: {len(SERVER_BODY)}".encode(), f"Content-Length: {len(body)}".encode())
    return head + b"\r\n" + body


def test_jenkins_gets_the_canonical_deploy_body(jenkins):
    stand_in, port = jenkins
    stand_in.take()
    sent = b'{"deploy": {"project": "digits", "env": "prod", "version": "v3"}}'
    with running_filter(port, policy=POLICY) as filter_port:
        status, _ = raw_request(filter_port, request(sent))
    assert status == 200
    (seen,) = stand_in.take()
    assert seen.body == CANONICAL and seen.headers["token"] == TOKEN


def test_hostile_deploy_bodies_never_reach_jenkins(jenkins):
    stand_in, port = jenkins
    stand_in.take()
    with running_filter(port, policy=POLICY) as filter_port:
        for name, body in HOSTILE_DEPLOY_BODIES.items():
            status, answer = raw_request(filter_port, request(body))
            assert status in (400, 422), (name, answer[:200])
    assert stand_in.take() == []
