"""Plain HTTP against the session's dashboard (urllib: what any client sends, no test client)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url: str, *, headers: dict[str, str] | None = None) -> Answer:
    return _send(urllib.request.Request(url, headers=headers or {}))


def post(url: str, form: dict[str, str], *, cookie: str | None = None) -> Answer:
    data = urllib.parse.urlencode(form).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **({"Cookie": cookie} if cookie else {})}
    return _send(urllib.request.Request(url, data=data, headers=headers, method="POST"))


def _send(request: urllib.request.Request) -> Answer:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=60) as response:
            return Answer(response.status, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode(), dict(exc.headers))
