"""Sizes and durations: the one grammar mlci.yaml, project.yaml and every CLI option use.

**Size** — a number and an optional unit, nothing else (no spaces, no sign):

    NUMBER [UNIT]      NUMBER: digits, optionally with a decimal fraction (`20`, `1.5`)
                       UNIT:   b | k | m | g | t, optionally followed by `b` or `ib`, any case
                               (`500m`, `500M`, `500MB`, `500MiB` are all 500 × 1024² bytes)

Units are binary (powers of 1024), as Docker's `--shm-size` reads them. A bare number is bytes;
a fraction is rounded down to whole bytes. YAML integers are bytes.

**Duration** — one or more NUMBER UNIT parts, largest unit first, each unit at most once:

    w (weeks) | d (days) | h (hours) | m (minutes) | s (seconds), lower case only

    e.g. `45s`, `30m`, `2h`, `1h30m`, `1.5h`, `2w`, `1d12h`. A bare number is seconds.

A fraction is rounded down to whole seconds. YAML integers are seconds.

Both: ASCII digits only, at most 15 before the decimal point and 6 after; the whole text must match
(a newline or any other whitespace anywhere is an error, never silently dropped); zero is refused
unless the caller allows it (`cache prune --max-size 0` means "remove everything"); a size is at
most 2**63 - 1 bytes (8 EiB, what Docker and JSON consumers hold in a signed 64-bit integer), a
duration at most 2**31 - 1 seconds (about 68 years, what a Jenkins `timeout` step holds).

Errors are ValueErrors whose message says what is accepted; the manifest loader adds
`file:line:col: key:` in front, the CLI turns them into a usage error (exit 2).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

MAX_SIZE = 2**63 - 1
MAX_DURATION = 2**31 - 1

_NUMBER = r"[0-9]{1,15}(?:\.[0-9]{1,6})?"
# re.ASCII: with IGNORECASE alone the Kelvin sign (U+212A) would match `k`
_SIZE_RE = re.compile(rf"({_NUMBER})(?:([kmgt])(?:i?b)?|b)?", re.IGNORECASE | re.ASCII)
_SIZE_FACTOR = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile("".join(rf"(?:({_NUMBER}){unit})?" for unit in _DURATION_UNITS), re.ASCII)
_BARE_RE = re.compile(_NUMBER, re.ASCII)

SIZE_HINT = "use a number with an optional unit b, k, m, g or t (powers of 1024), e.g. 500m, 20g or 1.5t"
DURATION_HINT = "use a number with units w, d, h, m or s, largest first, e.g. 45s, 30m, 2h, 1h30m or 2w"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_size(value: Any, *, allow_zero: bool = False) -> int:
    """A size (see the module docstring) in bytes."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{_shown(value)} is not a size — {SIZE_HINT}")
    if isinstance(value, int):
        size = value
    elif match := _SIZE_RE.fullmatch(value):
        size = int(Fraction(match.group(1)) * _SIZE_FACTOR[(match.group(2) or "").lower()])
    else:
        raise ValueError(f"{_shown(value)} is not a size — {SIZE_HINT}")
    return _bounded(size, MAX_SIZE, allow_zero, "larger", "8 EiB", "e.g. 20g")


def parse_duration(value: Any, *, allow_zero: bool = False) -> int:
    """A duration (see the module docstring) in whole seconds."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{_shown(value)} is not a duration — {DURATION_HINT}")
    if isinstance(value, int):
        seconds = value
    elif _BARE_RE.fullmatch(value):
        seconds = int(Fraction(value))
    elif (match := _DURATION_RE.fullmatch(value)) and any(match.groups()):
        total = sum(
            Fraction(part) * factor
            for part, factor in zip(match.groups(), _DURATION_UNITS.values(), strict=True)
            if part
        )
        seconds = int(total)
    else:
        raise ValueError(f"{_shown(value)} is not a duration — {DURATION_HINT}")
    return _bounded(seconds, MAX_DURATION, allow_zero, "longer", "about 68 years", "e.g. 30m")


def _bounded(number: int, maximum: int, allow_zero: bool, comparative: str, limit: str, example: str) -> int:
    if number < 0:
        raise ValueError(f"must not be negative — {example}")
    if number == 0 and not allow_zero:
        raise ValueError(f"must be {comparative} than zero — {example}")
    if number > maximum:
        raise ValueError(f"is too large (at most {maximum}, {limit}) — {example}")
    return number
