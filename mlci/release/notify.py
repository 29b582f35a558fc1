"""Slack notifications (incoming webhook, Block Kit): what happened to a project's run, how its
metrics compare with the previous published run, and links to the Jenkins build and artifacts.

Notifying is best effort by design: `send` raises NotifyError, and the command turns that into a
warning, because a chat outage must never fail a training pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlci import secrets
from mlci.publish.stores.retry import with_retry
from mlci.record.store import RunRecord, iter_records

# requests (~0.15 s) is imported in the functions that post, so that other commands do not pay for it.

EVENTS = ("started", "succeeded", "failed", "cancelled", "approval")
_HEADLINE = {
    "started": ("🚀", "started"),
    "succeeded": ("✅", "succeeded"),
    "failed": ("❌", "failed"),
    "cancelled": ("⏹️", "was cancelled"),
    "approval": ("✋", "is waiting for approval"),
}


class NotifyError(Exception):
    pass


def previous_published(root: Path, record: RunRecord) -> RunRecord | None:
    """The newest run of the same project, older than `record`, that was published."""
    created = record.data.get("createdAt") or ""
    for other in iter_records(root, record.project):
        if (
            other.job_id != record.job_id
            and other.data.get("publish")
            and (other.data.get("createdAt") or "") < created
        ):
            return other
    return None


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def compare_metrics(current: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    """One line per current metric: its value, and the change since the previous published run."""
    lines = []
    for name, value in sorted(current.items()):
        line = f"*{name}*: {_number(value)}"
        before = (previous or {}).get(name)
        if isinstance(value, int | float) and isinstance(before, int | float):
            delta = value - before
            arrow = "▲" if delta > 0 else "▼" if delta < 0 else "="
            line += f"  ({arrow} {delta:+.4g} from {_number(before)})"
        elif previous is not None:
            line += "  (new)"
        lines.append(line)
    return lines


def _link(url: str | None, text: str) -> dict[str, Any] | None:
    """A Block Kit button; only http(s) URLs are clickable in Slack."""
    if url and url.startswith(("http://", "https://")):
        return {"type": "button", "text": {"type": "plain_text", "text": text}, "url": url}
    return None


def build_message(
    event: str,
    project: str,
    record: RunRecord | None,
    previous: RunRecord | None,
    *,
    job: str | None = None,
    build_url: str | None,
    channel: str | None = None,
) -> dict[str, Any]:
    """The webhook payload: a plain `text` fallback plus Block Kit `blocks`."""
    emoji, verb = _HEADLINE[event]
    data = record.data if record else {}
    job = data.get("jobId") or job
    title = f"{emoji} {project}{f' run {job}' if job else ''} {verb}"
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]

    fields = [f"*Project*\n{project}", f"*Status*\n{data.get('overallStatus') or event}"]
    if job:
        fields.append(f"*Job*\n{job}")
    if data.get("attempts"):
        fields.append(f"*Attempts*\n{len(data['attempts'])}")
    gate = data.get("gate")
    if gate and gate.get("metric"):
        verdict = "passed" if gate.get("passed") else "failed"
        fields.append(f"*Gate*\n{gate.get('metric')} {gate.get('op')} {gate.get('threshold')}: {verdict}")
    if data.get("commit"):
        fields.append(f"*Commit*\n`{str(data['commit'])[:12]}`")
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]})

    metrics = data.get("metrics") or {}
    if metrics:
        prior = previous.data.get("metrics") if previous else None
        text = "\n".join(compare_metrics(metrics, prior))
        if previous:
            text += f"\n_compared with published run {previous.job_id}_"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if data.get("error"):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Error*: {data['error']}"[:2900]}})

    artifact = (data.get("run") or {}).get("artifactUrl")
    approve_url = f"{build_url.rstrip('/')}/input/" if build_url and event == "approval" else None
    buttons = [
        b
        for b in (
            _link(approve_url, "Approve or reject"),
            _link(build_url, "Jenkins build"),
            _link(artifact, "Artifacts"),
        )
        if b
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    if artifact and not _link(artifact, ""):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Artifacts: `{artifact}`"}]})

    payload: dict[str, Any] = {"text": title, "blocks": blocks}
    if channel:
        payload["channel"] = channel
    return secrets.redact_data(payload)


def send(webhook_url: str, payload: dict[str, Any], *, timeout: float = 10) -> None:
    """POST the payload to the incoming webhook; NotifyError (secret-free) when Slack refuses it."""
    import requests

    secrets.remember(webhook_url)

    def post() -> requests.Response:
        response = requests.post(webhook_url, json=payload, timeout=timeout)
        if response.status_code >= 400:
            response.raise_for_status()
        return response

    try:
        with_retry(post, what="slack webhook", attempts=3)
    except requests.RequestException as exc:
        status = getattr(exc.response, "status_code", None)
        detail = f"HTTP {status}: {exc.response.text[:200]}" if status else type(exc).__name__
        raise NotifyError(secrets.redact(f"Slack webhook failed ({detail})")) from None
