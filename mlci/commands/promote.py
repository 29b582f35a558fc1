"""`mlci promote PROJECT VERSION --to ENV [--by WHO] [--store NAME]`: make a published model version
current in an environment of mlci.yaml, and record who did it; rolling back is promoting an earlier one."""

from __future__ import annotations

import click

from mlci import secrets
from mlci.commands._common import remember_secrets, repo_root
from mlci.manifest import load_manifest
from mlci.publish.promotion import promote


@click.command("promote")
@click.argument("project")
@click.argument("version")
@click.option("--to", "env", required=True, help="Environment name from mlci.yaml environments.")
@click.option("--by", help="Who promotes, for the promotion log (default: $MLCI_USER, else the OS user).")
@click.option(
    "--store", "store_name", help="Store whose version index holds VERSION (default: the project's publish store)."
)
@click.pass_context
@secrets.redacted_errors
def command(ctx: click.Context, project: str, version: str, env: str, by: str | None, store_name: str | None) -> None:
    """Promote PROJECT's model VERSION (v1, v2, ...) to an environment."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    remember_secrets(root, manifest, project)
    promotion, recorded = promote(root, manifest, project, version, env, by=by, from_store=store_name)
    if not recorded:
        click.echo(f"{project} {version} is current in {env} already (promoted by {promotion.by} at {promotion.at})")
        return
    replaced = f", replacing {promotion.previous}" if promotion.previous else ""
    click.echo(secrets.redact(f"✓ promoted {project} {version} to {env}{replaced}: {promotion.url}"))
