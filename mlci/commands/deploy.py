"""`mlci deploy PROJECT --env ENV [--version V] [--by WHO]`: serve a published model version as the
container `{env}-{project}`, replacing the old one only once the new one is healthy; `--status [--json]`:
what serves there now."""

from __future__ import annotations

import json

import click

from mlci import secrets
from mlci.commands._common import cancel_on_signals, remember_secrets, repo_root, say
from mlci.deploy.actions import deploy_project, deploy_status
from mlci.deploy.status import Deployed
from mlci.errors import UsageError
from mlci.manifest import load_manifest


@click.command("deploy")
@click.argument("project")
@click.option("--env", "env_name", required=True, help="Environment name from mlci.yaml environments.")
@click.option("--version", help="The model version to serve (v1, v2, ...; default: the one current in ENV).")
@click.option("--by", help="Who deploys, for the container's labels (default: $MLCI_USER, else the OS user).")
@click.option("--status", "show_status", is_flag=True, help="Show what serves PROJECT in ENV instead.")
@click.option("--json", "as_json", is_flag=True, help="With --status: machine-readable output.")
@click.pass_context
@secrets.redacted_errors
def command(
    ctx: click.Context,
    project: str,
    env_name: str,
    version: str | None,
    by: str | None,
    show_status: bool,
    as_json: bool,
) -> None:
    """Serve PROJECT's model version in an environment (a rollback is deploying an earlier version)."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    remember_secrets(root, manifest, project)
    if show_status:
        if version or by:
            raise UsageError("--status takes no --version or --by", hint=f"mlci deploy {project} --env ENV --status")
        _show(deploy_status(root, manifest, project, env_name), project, env_name, as_json)
        return
    if as_json:
        raise UsageError("--json goes with --status", hint=f"mlci deploy {project} --env {env_name} --status --json")
    cancel_on_signals()
    result = deploy_project(root, manifest, project, env_name, version=version, by=by, say=say)
    if not result.changed:
        click.echo(f"{project} {result.version} is serving in {env_name} already, healthy ({result.container})")
        return
    replaced = f", replacing {result.previous}" if result.previous else ""
    click.echo(f"✓ deployed {project} {result.version} to {env_name} as {result.container}{replaced}")


def _show(current: Deployed | None, project: str, env: str, as_json: bool) -> None:
    if as_json:
        payload = current.to_json() if current else None
        click.echo(json.dumps({"env": env, "project": project, "deployed": payload}, indent=2))
        return
    if current is None:
        click.echo(f"nothing of {project} is deployed in {env} on this engine — `mlci deploy {project} --env {env}`")
        return
    rows = [
        ("container", current.name),
        ("version", f"{current.version} (job {current.job_id})"),
        ("state", f"{current.state}, health {current.health}"),
        ("since", current.since),
        ("image", f"{current.image} ({current.image_id[:19]})"),
        ("reach", f"{current.url} on network {current.network}"),
        ("published", current.published or "-"),
        ("restart", current.restart),
        ("deployed", f"by {current.deployed_by or '?'} at {current.deployed_at or '?'}"),
    ]
    for key, value in rows:
        click.echo(secrets.redact(f"{key:<10} {value}"))
