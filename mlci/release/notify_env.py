"""Slack messages about promotions and deployments (Jenkins' mlci-promote and mlci-deploy jobs):
project, version, environment, the version it replaced and who did it.

Best effort like every notification: what the caller did not pass (the previous version, who, the
version a deployment of "the current version" ran) is looked up in the environment's promotion log
when it can be read, and left out when it cannot — never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlci import secrets
from mlci.errors import MlciError
from mlci.manifest.schema import Manifest
from mlci.publish.promotion import history
from mlci.release.notify_text import ENV_HEADLINES, env_headline, text
from mlci.web.messages import Lang

ENV_EVENTS = tuple(ENV_HEADLINES)
# Events about a promotion: they name the version promoted; deployments may deploy "the current one".
PROMOTION_EVENTS = tuple(e for e in ENV_EVENTS if e.startswith("promot"))


@dataclass(frozen=True)
class EnvChange:
    project: str
    env: str
    version: str | None  # None: a deployment of whatever is current in the environment
    previous: str | None = None  # "" when there was none (a first promotion); None when not known
    by: str | None = None


def from_log(root: Path, manifest: Manifest, event: str, change: EnvChange) -> EnvChange:
    """Fills in what the promotion log knows: for `promoted`, the promotion of `version` (its previous
    version and who); for a deployment without a version, the version current in the environment."""
    if change.previous is not None and change.by and change.version:
        return change
    try:
        entries = history(root, manifest, change.project, change.env)  # newest first
    except (MlciError, OSError, ValueError):
        return change
    if change.version is None and event not in PROMOTION_EVENTS and entries:
        change = replace(change, version=entries[0].version)
    if event == "promoted":
        done = next((e for e in entries if e.version == change.version), None)
        if done is not None:
            previous = change.previous if change.previous is not None else (done.previous or "")
            change = replace(change, previous=previous, by=change.by or done.by)
    return change


def _button(url: str, label: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}


def build_env_message(
    event: str,
    change: EnvChange,
    *,
    build_url: str | None,
    channel: str | None = None,
    lang: Lang = "en",
) -> dict[str, Any]:
    """The webhook payload in `lang`: a headline, the fields, and links to the build (its input page
    for an approval)."""
    title = env_headline(lang, event, change.project, change.version, change.env)

    def field(key: str, value: str) -> dict[str, str]:
        return {"type": "mrkdwn", "text": f"*{text(lang, key)}*\n{value}"}

    version = change.version or text(lang, "current")
    fields = [field("project", change.project), field("version", version), field("env", change.env)]
    if change.previous is not None:
        fields.append(field("previous", change.previous or text(lang, "none")))
    if change.by:
        fields.append(field("by", change.by))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "fields": fields},
    ]
    buttons = []
    if build_url and build_url.startswith(("http://", "https://")):
        if event == "promotion-approval":
            buttons.append(_button(f"{build_url.rstrip('/')}/input/", text(lang, "approve")))
        buttons.append(_button(build_url, text(lang, "build")))
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    payload: dict[str, Any] = {"text": title, "blocks": blocks}
    if channel:
        payload["channel"] = channel
    return secrets.redact_data(payload)
