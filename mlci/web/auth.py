"""The dashboard's own login and CSRF tokens: no framework session store, nothing on disk.

The password comes from the secret named by `dashboard.password` in mlci.yaml. A login sets a
cookie holding an HMAC over a random session id with a key that lives only in this process (a
restart logs everybody out); the CSRF token every POST form carries is a second HMAC over the
same id, so a page from another origin can neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

COOKIE = "mlci_dashboard_session"


@dataclass
class Auth:
    password: str | None  # None: nobody can log in, the dashboard is read-only
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @property
    def enabled(self) -> bool:
        return bool(self.password)

    def check_password(self, given: str) -> bool:
        return self.enabled and hmac.compare_digest(given.encode(), (self.password or "").encode())

    def new_session(self) -> str:
        sid = secrets.token_urlsafe(24)
        return f"{sid}.{self._mac('session', sid)}"

    def session_id(self, cookie: str | None) -> str | None:
        """The session id of a cookie this process signed, else None."""
        if not self.enabled or not cookie or cookie.count(".") != 1:
            return None
        sid, mac = cookie.split(".")
        return sid if hmac.compare_digest(mac, self._mac("session", sid)) else None

    def csrf_token(self, sid: str) -> str:
        return self._mac("csrf", sid)

    def csrf_ok(self, sid: str | None, token: str | None) -> bool:
        return bool(sid and token) and hmac.compare_digest(str(token), self.csrf_token(str(sid)))

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
