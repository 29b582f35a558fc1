"""What may pass: one exact request target, one method, a token, a bounded JSON body. Pure functions.

Nothing is normalized: the raw request target is compared byte for byte with the endpoint, so a dot
segment, a percent-encoded byte, a path parameter (`;`), a query, a backslash, a second slash or an
absolute-form target simply does not match. Headers are parsed strictly too (no folding, no bare LF,
no duplicate framing headers), because a lenient parser in front of a strict one is how requests are
smuggled.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

# The Generic Webhook Trigger's endpoint: its root action's URL name `generic-webhook-trigger` and the
# Stapler method `doInvoke` (jenkinsci/generic-webhook-trigger-plugin,
# src/main/java/org/jenkinsci/plugins/gwt/GenericWebHookRequestReceiver.java: URL_NAME, doInvoke).
WEBHOOK_PATH = "/generic-webhook-trigger/invoke"
ALLOWED_TARGETS = frozenset({WEBHOOK_PATH})

# Request headers Jenkins gets; every other header (Authorization, X-Gitlab-Token, Cookie,
# X-Forwarded-*, ...) stays behind. GWT takes its token from the `token` query parameter first, then
# the `token` header, then `Authorization: Bearer`, then `X-Gitlab-Token` (getGivenToken in the same
# file): with no query and only `token` forwarded, the token the filter checked is the one Jenkins uses.
FORWARDED_HEADERS = ("content-type", "token", "user-agent", "x-github-event", "x-github-delivery")
# Headers that must appear at most once: framing, routing and the token.
SINGLE_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "content-type", "token", "expect"})

MAX_HEAD = 16 * 1024  # request line and headers
MAX_HEADERS = 64
DEFAULT_MAX_BODY = 1024 * 1024  # the release trigger posts ~150 bytes; GitHub's own events stay far below

_TOKEN_CHARS = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token (method, header name)
_VALUE_CHARS = re.compile(rb"[\t\x20-\x7e]*")  # visible ASCII, space and tab: no controls, no obs-text
_TARGET_CHARS = re.compile(rb"[\x21-\x7e]+")
_HOST = re.compile(r"([a-z0-9.-]+)(?::[0-9]{1,5})?")
_JSON = re.compile(r"application/json(?:\s*;\s*charset=\"?utf-8\"?)?", re.I)


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]  # (lower-cased name, value), in order

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


@dataclass(frozen=True)
class Refusal:
    status: int
    why: str  # for the log line and the response body; never quotes a header value


@dataclass(frozen=True)
class Admitted:
    content_length: int
    expect_continue: bool
    forward: tuple[tuple[str, str], ...]  # the headers Jenkins gets


@dataclass(frozen=True)
class Policy:
    host: str  # the public webhook name (webhook.frp.custom_domain)
    tokens: tuple[bytes, ...]  # accepted webhook tokens
    max_body: int = DEFAULT_MAX_BODY
    environments: tuple[str, ...] = ()  # mlci.yaml's environments: where the deploy route may deploy


def parse_head(head: bytes) -> Request | Refusal:
    """The request line and header fields, up to (not including) the empty line."""
    if len(head) > MAX_HEAD:
        return Refusal(431, "request head too large")
    lines = head.split(b"\r\n")
    if any(b"\r" in line or b"\n" in line for line in lines):
        return Refusal(400, "bare CR or LF in the request head")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        return Refusal(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN_CHARS.fullmatch(method) or not _TARGET_CHARS.fullmatch(target):
        return Refusal(400, "malformed request line")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        return Refusal(505, "only HTTP/1.1 is spoken here")
    fields = lines[1:]
    if not all(fields):
        return Refusal(400, "empty line inside the header block")
    if len(fields) > MAX_HEADERS:
        return Refusal(431, "too many header fields")
    headers: list[tuple[str, str]] = []
    for line in fields:
        name, colon, value = line.partition(b":")
        # No obs-fold (a line starting with whitespace), no space before the colon (RFC 9112 §5.1).
        if not colon or not _TOKEN_CHARS.fullmatch(name) or not _VALUE_CHARS.fullmatch(value):
            return Refusal(400, "malformed header field")
        headers.append((name.decode("ascii").lower(), value.strip(b" \t").decode("ascii")))
    names = [name for name, _ in headers]
    if any(names.count(name) > 1 for name in SINGLE_HEADERS):
        return Refusal(400, "a framing, routing or token header appears twice")
    return Request(method.decode("ascii"), target.decode("ascii"), tuple(headers))


def target_allowed(target: str) -> bool:
    """The whole rule for paths: the raw target equals an endpoint, byte for byte."""
    return target in ALLOWED_TARGETS


def host_matches(host: str | None, expected: str) -> bool:
    if host is None:
        return False
    match = _HOST.fullmatch(host.lower())
    return bool(match) and match.group(1) == expected.lower()


def token_matches(given: str | None, tokens: tuple[bytes, ...]) -> bool:
    if not given:
        return False
    candidate = given.encode("ascii")
    # Compare with every token, without stopping early, in constant time per comparison.
    results = [hmac.compare_digest(candidate, token) for token in tokens]
    return any(results)


def admit(request: Request, policy: Policy) -> Admitted | Refusal:
    """Everything about a request but its body: 404 unless the exact endpoint on the webhook's host,
    405 unless POST, then framing (411/413), media type (415), expectation (417) and the token (403)."""
    if not target_allowed(request.target) or not host_matches(request.header("host"), policy.host):
        return Refusal(404, "not found")
    if request.method != "POST":
        return Refusal(405, "only POST")
    if request.header("transfer-encoding") is not None:
        return Refusal(411, "send a Content-Length, not Transfer-Encoding")
    length = request.header("content-length")
    if length is None:
        return Refusal(411, "Content-Length required")
    if not re.fullmatch(r"[0-9]{1,15}", length):
        return Refusal(400, "malformed Content-Length")
    if int(length) > policy.max_body:
        return Refusal(413, f"body larger than {policy.max_body} bytes")
    content_type = request.header("content-type")
    if content_type is None or not _JSON.fullmatch(content_type):
        return Refusal(415, "the body must be application/json")
    expect = request.header("expect")
    if expect is not None and expect.lower() != "100-continue":
        return Refusal(417, "unsupported expectation")
    if not token_matches(request.header("token"), policy.tokens):
        return Refusal(403, "missing or wrong token header")
    forward = tuple((name, value) for name, value in request.headers if name in FORWARDED_HEADERS)
    return Admitted(int(length), expect is not None, forward)
