"""Language choice and formatting for the dashboard and its command (catalogue: messages.py)."""

from __future__ import annotations

import os
from datetime import datetime

from mlci.web.messages import LANGS, MESSAGES, Lang

DEFAULT: Lang = "en"


def translate(lang: Lang, key: str, **values: object) -> str:
    text = MESSAGES[key][lang]
    return text.format(**values) if values else text


def status_label(lang: Lang, status: str) -> str:
    """A status in the reader's language; an unknown one (a newer mlci) as written."""
    entry = MESSAGES.get(f"status.{status}")
    return entry[lang] if entry else status


def _as_lang(tag: str) -> Lang | None:
    primary = tag.strip().split(";")[0].strip().lower().replace("_", "-").split("-")[0].split(".")[0]
    return primary if primary in LANGS else None  # type: ignore[return-value]


def from_request(query_lang: str | None, accept_language: str | None, default: Lang = DEFAULT) -> Lang:
    """`?lang=` wins, then the browser's Accept-Language in its q order, then the configured default."""
    if query_lang and (chosen := _as_lang(query_lang)):
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:1000].split(",")):
        tag, _, params = part.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, index, tag))
    for q, _, tag in sorted(ranked):
        if q < 0 and (chosen := _as_lang(tag)):
            return chosen
    return default


def from_environment(environ: dict[str, str] | None = None) -> Lang:
    """The command line's language: MLCI_LANG, then LC_ALL/LC_MESSAGES/LANG (`ja_JP.UTF-8` → ja)."""
    env = os.environ if environ is None else environ
    for name in ("MLCI_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return _as_lang(value) or DEFAULT
    return DEFAULT


def format_time(lang: Lang, iso: str | None) -> str:
    """A record's UTC stamp in the host's time zone (JST on a Japanese host), in the reader's format."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return iso
    if lang == "ja":
        return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M:%S} {moment:%Z}".rstrip()
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}".rstrip()


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def format_size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size} B"
