"""The filter's rule on its own: exact target, POST, host, framing, media type, token."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlci.webhook.rule import (
    MAX_HEADERS,
    WEBHOOK_PATH,
    Admitted,
    Policy,
    Refusal,
    admit,
    parse_head,
    target_allowed,
)

POLICY = Policy("hooks.acme.example", (b"s3cret-token",), max_body=1000)
GOOD_HEADERS = [
    "Host: hooks.acme.example",
    "Content-Type: application/json",
    "Content-Length: 12",
    "token: s3cret-token",
]


def head(line: str = f"POST {WEBHOOK_PATH} HTTP/1.1", *headers: str, replace: dict[str, str] | None = None) -> bytes:
    fields = list(headers) or list(GOOD_HEADERS)
    for name, value in (replace or {}).items():
        fields = [f for f in fields if not f.lower().startswith(name.lower() + ":")]
        if value is not None:
            fields.append(f"{name}: {value}")
    return "\r\n".join([line, *fields]).encode("latin-1")


def verdict(data: bytes) -> Admitted | Refusal:
    request = parse_head(data)
    return request if isinstance(request, Refusal) else admit(request, POLICY)


def status(data: bytes) -> int:
    result = verdict(data)
    return result.status if isinstance(result, Refusal) else 200


def test_the_release_webhook_is_admitted_with_only_the_allowed_headers() -> None:
    result = verdict(head(replace={"Authorization": "Basic eDp5", "X-Forwarded-For": "10.0.0.1", "User-Agent": "curl"}))
    assert isinstance(result, Admitted)
    assert result.content_length == 12 and not result.expect_continue
    assert dict(result.forward) == {"content-type": "application/json", "token": "s3cret-token", "user-agent": "curl"}


@pytest.mark.parametrize(
    "target",
    [
        f"{WEBHOOK_PATH}/../../script",
        f"{WEBHOOK_PATH}/%2e%2e/%2e%2e/script",
        "/generic-webhook-trigger/%69nvoke",
        f"{WEBHOOK_PATH};jsessionid=0",
        f"{WEBHOOK_PATH}X",
        f"{WEBHOOK_PATH}/",
        f"{WEBHOOK_PATH}?token=s3cret-token",
        f"{WEBHOOK_PATH}\\..\\script",
        f"/{WEBHOOK_PATH}",
        f"http://hooks.acme.example{WEBHOOK_PATH}",
        "/github-webhook/",
        "*",
    ],
)
def test_any_other_target_is_not_found(target: str) -> None:
    assert status(head(f"POST {target} HTTP/1.1")) == 404


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80))
@settings(max_examples=500)
def test_no_target_but_the_endpoint_itself_passes(target: str) -> None:
    expected = 200 if target == WEBHOOK_PATH else 404
    assert status(head(f"POST {target} HTTP/1.1")) == expected


@given(
    prefix=st.text(alphabet="/.%;\\?#2eEfF", max_size=6),
    suffix=st.text(alphabet="/.%;\\?#2eEfFX", max_size=6),
)
def test_decorating_the_endpoint_never_passes(prefix: str, suffix: str) -> None:
    target = prefix + WEBHOOK_PATH + suffix
    if (prefix, suffix) != ("", ""):
        assert not target_allowed(target)
        assert status(head(f"POST {target} HTTP/1.1")) in (400, 404)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_and_never_pass(data: bytes) -> None:
    assert isinstance(verdict(data), Refusal)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (head(f"GET {WEBHOOK_PATH} HTTP/1.1"), 405),
        (head(f"PUT {WEBHOOK_PATH} HTTP/1.1"), 405),
        (head(f"OPTIONS {WEBHOOK_PATH} HTTP/1.1"), 405),  # GWT answers OPTIONS itself: it must not get one
        (head(f"post {WEBHOOK_PATH} HTTP/1.1"), 405),
        (head(f"POST {WEBHOOK_PATH} HTTP/2.0"), 505),
        (head(f"POST {WEBHOOK_PATH}"), 400),
        (head(f"POST  {WEBHOOK_PATH} HTTP/1.1"), 400),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1 x"), 400),
        (head(replace={"Host": "jenkins:8080"}), 404),
        (head(replace={"Host": "hooks.acme.example.evil.example"}), 404),
        (head(replace={"Host": None}), 404),
        (head(replace={"token": None}), 403),
        (head(replace={"token": "s3cret-tokeN"}), 403),
        (head(replace={"token": "s3cret-token "}), 200),  # optional whitespace is not part of a value
        (head(replace={"token": None, "Authorization": "Bearer s3cret-token"}), 403),
        (head(replace={"Content-Length": None}), 411),
        (head(replace={"Content-Length": "12", "Transfer-Encoding": "chunked"}), 411),
        (head(replace={"Content-Length": "1001"}), 413),
        (head(replace={"Content-Length": "+12"}), 400),
        (head(replace={"Content-Length": "1e3"}), 400),
        (head(replace={"Content-Type": "text/plain"}), 415),
        (head(replace={"Content-Type": "application/x-www-form-urlencoded"}), 415),
        (head(replace={"Content-Type": "application/json; charset=utf-8"}), 200),
        (head(replace={"Expect": "100-continue"}), 200),
        (head(replace={"Expect": "something-else"}), 417),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS, "token: other"), 400),  # a second token
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS, "Content-Length: 12"), 400),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS, " folded: continuation"), 400),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS, "Bad Name: x"), 400),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS, "X-Bad: caf\u00e9"), 400),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS, "X-Bad: a\x00b"), 400),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS).replace(b"\r\nHost", b"\nHost"), 400),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS, *[f"X-{i}: y" for i in range(MAX_HEADERS)]), 431),
        (head(f"POST {WEBHOOK_PATH} HTTP/1.1", *GOOD_HEADERS, "X-Big: " + "a" * 20000), 431),
    ],
    ids=lambda value: value.decode("latin-1")[:60].replace("\r\n", " | ") if isinstance(value, bytes) else str(value),
)
def test_what_the_rule_refuses_and_how(data: bytes, expected: int) -> None:
    assert status(data) == expected


def test_any_of_several_tokens_is_accepted() -> None:
    policy = Policy("hooks.acme.example", (b"first-token", b"second-token"))
    request = parse_head(head(replace={"token": "second-token"}))
    assert not isinstance(request, Refusal)
    assert isinstance(admit(request, policy), Admitted)


def test_the_host_may_carry_a_port_and_any_case() -> None:
    assert status(head(replace={"Host": "HOOKS.acme.example:443"})) == 200
    assert status(head(replace={"Host": "hooks.acme.example:443:1"})) == 404
