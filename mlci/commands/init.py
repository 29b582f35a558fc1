"""`mlci init [--force]`: adopt mlci in the Git repository around the current directory."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.adopt.init import init


@click.command("init")
@click.option("--force", is_flag=True, help="Replace mlci.yaml, Jenkinsfile and projects/example/ if they exist.")
@click.pass_context
def command(ctx: click.Context, force: bool) -> None:
    """Write mlci.yaml, an example project, the root Jenkinsfile and a .gitignore entry."""
    root = (ctx.find_root().obj or {}).get("root")
    result = init(Path(root) if root else Path.cwd(), force=force)
    for rel in result.written:
        click.echo(f"wrote {rel}")
    if result.repository_url is None:
        click.echo("note: no usable `origin` remote — set repository.url in mlci.yaml before `mlci render`")
    click.echo("next:")
    for i, step in enumerate(result.next_steps, 1):
        click.echo(f"  {i}. {step}")
