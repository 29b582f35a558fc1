"""`mlci notify --event started|succeeded|failed|approval PROJECT [JOB]`: tell Slack.

Always exits 0 once its arguments are valid: a notification that cannot be sent is a warning.
"""

from __future__ import annotations

import os

import click

from mlci import secrets
from mlci.commands._common import remember_secrets, repo_root
from mlci.errors import MlciError
from mlci.manifest import load_manifest
from mlci.record.readers import find_record
from mlci.release.notify import EVENTS, NotifyError, build_message, previous_published, send


def _warn(message: str) -> None:
    click.echo(f"warning: {secrets.redact(message)} — the pipeline continues", err=True)


@click.command("notify")
@click.option("--event", type=click.Choice(EVENTS), required=True, help="What happened.")
@click.argument("project")
@click.argument("job", required=False)
@click.pass_context
def command(ctx: click.Context, event: str, project: str, job: str | None) -> None:
    """Post a Slack message about PROJECT's run (default: its latest run)."""
    try:
        root = repo_root(ctx)
        manifest = load_manifest(root)
        remember_secrets(root, manifest, project)
        slack = manifest.notifications.slack
        if slack is None:
            click.echo("notifications.slack is not set in mlci.yaml: nothing sent")
            return
        webhook = secrets.lookup(slack.webhook)
        if webhook is None:
            _warn(f"secret {slack.webhook} (notifications.slack.webhook) is not set, so no Slack message was sent")
            return
        try:
            record = find_record(root, project, job)
        except MlciError:
            if event != "started":
                raise
            record = None  # Jenkins sends `started` before `mlci run` has written the record
        previous = previous_published(root, record) if record else None
        payload = build_message(
            event,
            project,
            record,
            previous,
            job=job,
            build_url=os.environ.get("BUILD_URL"),
            channel=slack.channel,
            lang=manifest.locale,
        )
        send(webhook, payload)
        click.echo(f"✓ Slack notified: {payload['text']}")
    except (MlciError, NotifyError) as exc:
        _warn(f"notification not sent: {exc}")
    except Exception as exc:  # any other failure is still only a warning
        _warn(f"notification not sent: {type(exc).__name__}: {exc}")
