"""`mlci notify --event started|succeeded|failed|cancelled|approval PROJECT [JOB]` about a run, or
`mlci notify --event promoted|deployed|... PROJECT --env ENV [--version V] [--previous V] [--by WHO]`
about a promotion or deployment: tell Slack.

Always exits 0 once its arguments are valid: a notification that cannot be sent is a warning.
"""

from __future__ import annotations

import os
import re

import click

from mlci import secrets
from mlci.commands._common import remember_secrets, repo_root
from mlci.contract import PROJECT_RE
from mlci.errors import MlciError, UsageError
from mlci.manifest import load_manifest
from mlci.manifest.fields import NAME_RE
from mlci.publish.promotion_log import WHO_RE
from mlci.record.parts import VERSION_PATTERN
from mlci.record.readers import find_record
from mlci.release.notify import EVENTS, NotifyError, build_message, previous_published, send
from mlci.release.notify_env import ENV_EVENTS, PROMOTION_EVENTS, EnvChange, build_env_message, from_log

ENV_OPTIONS = ("--env", "--version", "--previous", "--by")


def _warn(message: str) -> None:
    click.echo(f"warning: {secrets.redact(message)} — the pipeline continues", err=True)


def _check(value: str | None, pattern: str, what: str, hint: str) -> str | None:
    if value is not None and not re.fullmatch(pattern, value):
        raise UsageError(f"{what} {value[:64]!r} is not valid", hint=hint)
    return value


def _env_change(
    event: str,
    project: str,
    job: str | None,
    env: str | None,
    version: str | None,
    previous: str | None,
    by: str | None,
) -> EnvChange:
    """The arguments of a promotion or deployment event, checked before anything is read or sent."""
    if job is not None:
        raise UsageError(
            f"--event {event} takes no JOB", hint="name the environment with --env and the version with --version"
        )
    if env is None:
        raise UsageError(f"--event {event} needs --env ENV")
    if version is None and event in PROMOTION_EVENTS:
        raise UsageError(f"--event {event} needs --version V (the version promoted)")
    _check(project, PROJECT_RE.pattern, "project", "lowercase letters, digits and dashes")
    _check(env, NAME_RE, "--env", "an environment name from mlci.yaml (lowercase letters, digits and dashes)")
    _check(version, VERSION_PATTERN, "--version", "a model version: v1, v2, ...")
    _check(previous, VERSION_PATTERN, "--previous", "a model version: v1, v2, ...")
    _check(by, WHO_RE, "--by", "a user name of letters, digits, . _ @ or -")
    return EnvChange(project, env, version, previous, by)


@click.command("notify")
@click.option("--event", type=click.Choice(EVENTS + ENV_EVENTS), required=True, help="What happened.")
@click.option("--env", help="Promotion and deployment events: the environment.")
@click.option("--version", help="Promotion and deployment events: the model version (default: the current one).")
@click.option("--previous", help="Promotion and deployment events: the version it replaced (default: from the log).")
@click.option("--by", help="Promotion and deployment events: who promoted or deployed (default: from the log).")
@click.argument("project")
@click.argument("job", required=False)
@click.pass_context
def command(
    ctx: click.Context,
    event: str,
    env: str | None,
    version: str | None,
    previous: str | None,
    by: str | None,
    project: str,
    job: str | None,
) -> None:
    """Post a Slack message about PROJECT's run (default: its latest run), or about a promotion or
    deployment of PROJECT to an environment."""
    change = None
    if event in ENV_EVENTS:
        change = _env_change(event, project, job, env, version, previous, by)
    elif any(v is not None for v in (env, version, previous, by)):
        raise UsageError(f"{', '.join(ENV_OPTIONS)} apply to promotion and deployment events, not to --event {event}")
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
        build_url = os.environ.get("BUILD_URL")
        if change is not None:
            change = from_log(root, manifest, event, change)
            payload = build_env_message(event, change, build_url=build_url, channel=slack.channel, lang=manifest.locale)
        else:
            try:
                record = find_record(root, project, job)
            except MlciError:
                if event != "started":
                    raise
                record = None  # Jenkins sends `started` before `mlci run` has written the record
            previous_run = previous_published(root, record) if record else None
            payload = build_message(
                event,
                project,
                record,
                previous_run,
                job=job,
                build_url=build_url,
                channel=slack.channel,
                lang=manifest.locale,
            )
        send(webhook, payload)
        click.echo(f"✓ Slack notified: {payload['text']}")
    except (MlciError, NotifyError) as exc:
        _warn(f"notification not sent: {exc}")
    except Exception as exc:  # any other failure is still only a warning
        _warn(f"notification not sent: {type(exc).__name__}: {exc}")
