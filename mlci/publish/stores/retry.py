"""Retry transient failures (network blips, throttling, 5xx) with capped exponential backoff.

Permanent failures (401/403/404, bad input) are raised at once: retrying them only delays
the error the user has to fix.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_sleep = time.sleep  # replaced in tests, so retries cost no wall time

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def http_status(exc: BaseException) -> int | None:
    """The HTTP status carried by a requests/httpx/botocore error, when there is one."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status
    if isinstance(response, dict):  # botocore ClientError
        meta = response.get("ResponseMetadata", {})
        if isinstance(meta.get("HTTPStatusCode"), int):
            return meta["HTTPStatusCode"]
    return None


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts and retryable HTTP statuses; everything else is permanent."""
    status = http_status(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    names = {cls.__name__ for cls in type(exc).__mro__}
    transient_names = {
        "ConnectionError",  # requests, builtins
        "ConnectError",  # httpx
        "Timeout",
        "TimeoutError",
        "TimeoutException",  # httpx
        "ReadTimeout",
        "RemoteProtocolError",
        "EndpointConnectionError",  # botocore
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
    }
    return bool(names & transient_names)


def with_retry(
    action: Callable[[], T],
    *,
    what: str,
    attempts: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 15.0,
    transient: Callable[[BaseException], bool] = is_transient,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """Run `action`; on a transient error wait base*2^n (jittered, capped) and try again."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or not transient(exc):
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            if on_retry:
                on_retry(f"{what}: {type(exc).__name__}; retry {attempt}/{attempts - 1} in {delay:.1f}s")
            (sleep or _sleep)(delay)
    raise AssertionError("unreachable")
