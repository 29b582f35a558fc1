"""`mlci validate`: check mlci.yaml and every project.yaml; exit 2 with one line per problem."""

from __future__ import annotations

import click

from mlci.commands._common import repo_root
from mlci.manifest import load_all


@click.command("validate")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Validate mlci.yaml and every projects/*/project.yaml."""
    manifest, projects = load_all(repo_root(ctx))
    names = ", ".join(p.name for p in projects) or "none"
    click.echo(f"✓ {manifest.name}: manifest valid; {len(projects)} project(s): {names}")
