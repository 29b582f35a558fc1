"""Requests that must never reach Jenkins through the public side, each written byte for byte.

It holds what frps' prefix route forwards on its own (frps passes the target verbatim and Jenkins
normalizes dot segments and encodings behind it), what path-parameter and backslash handling in
servlet containers turns into another path, what a lenient parser would let through, and requests to
the right path with the wrong method, host, token, media type or framing.
"""

from __future__ import annotations

from frp_support import DOMAIN, WEBHOOK_TOKEN, webhook

PATH = "/generic-webhook-trigger/invoke"
BODY = b'{"head":"abc123","base":"def456","pr":"7"}'


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

# The deploy route (a body whose object has the key `deploy`): everything here passes the head's rules
# and must be refused by the filter's body rule, whatever nginx and frps let through.
DEPLOY_BODY = b'{"deploy":{"project":"digits","env":"prod","version":"v3"}}'
HOSTILE_DEPLOY_BODIES = {
    "deploy-project-shell": b'{"deploy":{"project":"digits;reboot","env":"prod"}}',
    "deploy-project-subst": b'{"deploy":{"project":"$(id)","env":"prod"}}',
    "deploy-project-newline": b'{"deploy":{"project":"digits\\n","env":"prod"}}',
    "deploy-project-upper": b'{"deploy":{"project":"Digits","env":"prod"}}',
    "deploy-project-option": b'{"deploy":{"project":"--help","env":"prod"}}',
    "deploy-project-long": b'{"deploy":{"project":"' + b"a" * 64 + b'","env":"prod"}}',
    "deploy-project-number": b'{"deploy":{"project":7,"env":"prod"}}',
    "deploy-project-list": b'{"deploy":{"project":["digits"],"env":"prod"}}',
    "deploy-no-project": b'{"deploy":{"env":"prod"}}',
    "deploy-env-unknown": b'{"deploy":{"project":"digits","env":"staging"}}',
    "deploy-env-traversal": b'{"deploy":{"project":"digits","env":"../prod"}}',
    "deploy-env-space": b'{"deploy":{"project":"digits","env":"pro d"}}',
    "deploy-env-null": b'{"deploy":{"project":"digits","env":null}}',
    "deploy-no-env": b'{"deploy":{"project":"digits"}}',
    "deploy-version-bare-number": b'{"deploy":{"project":"digits","env":"prod","version":"3"}}',
    "deploy-version-zero": b'{"deploy":{"project":"digits","env":"prod","version":"v0"}}',
    "deploy-version-shell": b'{"deploy":{"project":"digits","env":"prod","version":"v3 && id"}}',
    "deploy-version-int": b'{"deploy":{"project":"digits","env":"prod","version":3}}',
    "deploy-extra-field": b'{"deploy":{"project":"digits","env":"prod","force":true}}',
    "deploy-extra-top-level": b'{"deploy":{"project":"digits","env":"prod"},"head":"abc"}',
    "deploy-not-an-object": b'{"deploy":"digits prod"}',
    "deploy-duplicate-key": b'{"deploy":{"project":"digits","env":"qa","env":"prod"}}',
    "deploy-duplicate-top": b'{"deploy":{"project":"digits","env":"qa"},"deploy":{"project":"x","env":"prod"}}',
    "deploy-escaped-key": b'{"de\\u0070loy":{"project":"digits;id","env":"prod"}}',
    "deploy-lenient-json": b"{deploy:{project:'digits',env:'prod'}}",
    "deploy-nan": b'{"deploy":{"project":"digits","env":"prod"},"x":NaN}',
    "deploy-not-utf8": b'{"deploy":{"project":"digits\xff","env":"prod"}}',
    "deploy-nested-deep": b'{"deploy":' + b"[" * 5000 + b"]" * 5000 + b"}",
}
CORPUS |= {name: webhook(body=body) for name, body in HOSTILE_DEPLOY_BODIES.items()}
