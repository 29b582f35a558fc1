"""`mlci new NAME`: scaffold projects/NAME/."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.adopt.scaffold import scaffold
from mlci.commands._common import repo_root
from mlci.errors import UsageError


@click.command("new")
@click.argument("name")
@click.pass_context
def command(ctx: click.Context, name: str) -> None:
    """Create projects/NAME/ with a Dockerfile, run.sh, config.yaml, project.yaml and src/."""
    try:
        root = repo_root(ctx)
    except UsageError:  # a brand-new monorepo: start it here
        root = Path.cwd()
    path = scaffold(root, name)
    click.echo(f"created {path.relative_to(root)}/ — run it with `mlci run {name}`")
