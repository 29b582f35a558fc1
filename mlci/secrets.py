"""Secrets by name: values come from the environment or Docker/Kubernetes-style secret files
(`/run/secrets/<NAME>`), never from arguments or files in the repository.

Every value resolved here is remembered, and `redact` masks it (and any other secret-looking
environment value) in text before mlci prints or writes it: error messages of client libraries
quote URLs, headers and bodies, and a Slack webhook URL *is* a secret.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from mlci.errors import MlciError, UsageError

SECRETS_DIR = Path("/run/secrets")
MASK = "****"
# Environment names whose values are treated as secrets even before anything resolves them.
_SECRET_ENV_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|WEBHOOK|CREDENTIAL)", re.I)
_MIN_LEN = 4  # shorter values would mask ordinary words and digits

_known: set[str] = set()


def secrets_dir() -> Path:
    """Where secret files live; MLCI_SECRETS_DIR overrides /run/secrets (tests, rootless hosts)."""
    return Path(os.environ.get("MLCI_SECRETS_DIR") or SECRETS_DIR)


def remember(value: str | None) -> None:
    """Mask `value` in everything `redact` sees from now on."""
    if value and len(value) >= _MIN_LEN:
        _known.add(value)


def lookup(name: str) -> str | None:
    """The value of secret `name` (environment first, then the secrets directory), or None."""
    value = os.environ.get(name)
    if not value:
        path = secrets_dir() / name
        try:
            value = path.read_text(encoding="utf-8").strip() if path.is_file() else None
        except OSError:
            value = None
    if value:
        remember(value)
        return value
    return None


def resolve(name: str, *, purpose: str) -> str:
    """The value of secret `name`, or a UsageError that says how to provide it (never the value)."""
    value = lookup(name)
    if value is None:
        raise UsageError(
            f"secret {name} ({purpose}) is not set",
            hint=f"export {name}=... or put it in {secrets_dir() / name}",
        )
    return value


def is_present(name: str) -> bool:
    return lookup(name) is not None


def remember_all(names: Iterable[str]) -> None:
    """Resolve (and so mask) every named secret that is available; missing ones are skipped."""
    for name in names:
        lookup(name)


def _candidates() -> list[str]:
    values = set(_known)
    for key, value in os.environ.items():
        if _SECRET_ENV_NAME.search(key) and value and len(value) >= _MIN_LEN:
            values.add(value)
    # longest first, so a secret containing another is masked whole
    return sorted(values, key=len, reverse=True)


def redact(text: str, values: list[str] | None = None) -> str:
    """`text` with every known secret value (or those of `values`) replaced by ****."""
    if not text:
        return text
    for value in _candidates() if values is None else values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(data: Any, values: list[str] | None = None) -> Any:
    """A copy of JSON-like `data` with secret values masked in every string (for records).
    The secret values are collected once per call, not once per string (a record has thousands)."""
    values = _candidates() if values is None else values
    if isinstance(data, str):
        return redact(data, values)
    if isinstance(data, dict):  # keys too: a stage may name a metric after a secret value
        return {redact(k, values) if isinstance(k, str) else k: redact_data(v, values) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_data(v, values) for v in data]
    return data


F = TypeVar("F", bound=Callable[..., Any])


def redacted_errors(func: F) -> F:
    """Decorate a command so any error it raises reaches the user with secrets masked.

    MlciErrors keep their class (and so their exit code); other exceptions from client libraries
    become an MlciError whose text is the library's message, masked.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MlciError as exc:
            exc.message = redact(exc.message)
            exc.hint = redact(exc.hint) if exc.hint else exc.hint
            exc.args = (exc.message,)
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("MLCI_DEBUG"):
                raise
            raise MlciError(redact(f"{type(exc).__name__}: {exc}")) from None

    return wrapper  # type: ignore[return-value]
