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
from mlci.record.readers import iter_records
from mlci.record.store import RunRecord
from mlci.release.notify_text import HEADLINES, headline, status, text
from mlci.web.messages import Lang

# requests (~0.15 s) is imported in the functions that post, so that other commands do not pay for it.

EVENTS = tuple(HEADLINES)


class NotifyError(Exception):
    pass


def previous_published(root: Path, record: RunRecord) -> RunRecord | None:
    """The newest run of the same project, older than `record`, that was published."""
    created = record.state.created_at
    for other in iter_records(root, record.project):
        if other.job_id != record.job_id and other.state.publish and other.state.created_at < created:
            return other
    return None


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def compare_metrics(current: dict[str, Any], previous: dict[str, Any] | None, lang: Lang = "en") -> list[str]:
    """One line per current metric: its value, and the change since the previous published run."""
    lines = []
    for name, value in sorted(current.items()):
        line = f"*{name}*: {_number(value)}"
        before = (previous or {}).get(name)
        if isinstance(value, int | float) and isinstance(before, int | float):
            delta = value - before
            arrow = "▲" if delta > 0 else "▼" if delta < 0 else "="
            line += text(lang, "delta", arrow=arrow, delta=f"{delta:+.4g}", before=_number(before))
        elif previous is not None:
            line += text(lang, "new")
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
    lang: Lang = "en",
) -> dict[str, Any]:
    """The webhook payload, in `lang`: a plain `text` fallback plus Block Kit `blocks`."""
    state = record.state if record else None
    job = state.job_id if state else job
    title = headline(lang, event, project, job)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]

    def field(key: str, value: str) -> str:
        return f"*{text(lang, key)}*\n{value}"

    fields = [field("project", project), field("status", status(lang, state.overall_status.value) if state else event)]
    if job:
        fields.append(field("job", job))
    if state and state.attempts:
        fields.append(field("attempts", str(len(state.attempts))))
    gate = state.gate if state else None
    if gate and gate.metric:
        verdict = text(lang, "passed" if gate.passed else "failed")
        fields.append(field("gate", f"{gate.metric} {gate.op} {gate.threshold}: {verdict}"))
    if state and state.commit:
        fields.append(field("commit", f"`{state.commit[:12]}`"))
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]})

    metrics = state.metrics if state else {}
    if metrics:
        prior = previous.state.metrics if previous else None
        lines = "\n".join(compare_metrics(metrics, prior, lang))
        if previous:
            lines += "\n" + text(lang, "compared", job=previous.job_id)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines}})
    if state and state.error:
        error = text(lang, "error", error=state.error)[:2900]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": error}})

    artifact = state.run.artifact_url if state else None
    approve_url = f"{build_url.rstrip('/')}/input/" if build_url and event == "approval" else None
    buttons = [
        b
        for b in (
            _link(approve_url, text(lang, "approve")),
            _link(build_url, text(lang, "build")),
            _link(artifact, text(lang, "artifacts")),
        )
        if b
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    if artifact and not _link(artifact, ""):
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": text(lang, "artifacts_at", url=artifact)}]}
        )

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
