"""`mlci doctor`'s dashboard line: when the stack runs the dashboard service, does it answer?"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from mlci.host.checks import Check

TIMEOUT_S = 5


def dashboard_url(manifest: Any) -> str:
    bind = manifest.dashboard.bind
    host = "127.0.0.1" if bind in ("0.0.0.0", "::") else f"[{bind}]" if ":" in bind else bind
    return f"http://{host}:{manifest.dashboard.port}/"


def dashboard_check(manifest: Any) -> Check:
    """Advisory: the dashboard is optional, and the stack runs on one host only."""
    url = dashboard_url(manifest)
    fix = "see `docker compose logs dashboard` in /srv/mlci/compose, or run `mlci dashboard` by hand"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            page = response.read(64 << 10).decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("dashboard", False, f"{url} does not answer ({reason})", fix, required=False)
    if 'href="/static/dashboard.css"' not in page:
        return Check("dashboard", False, f"{url} answers, but not with the mlci dashboard", fix, required=False)
    return Check("dashboard", True, f"{url} answers", required=False)
