"""`mlci affected`: the projects a change between two commits must retrain."""

from __future__ import annotations

import json

import click

from mlci.commands._common import repo_root
from mlci.release.affected import affected, changed_paths, resolve_range, snapshot


@click.command("affected")
@click.option("--base", metavar="REF", help="Last released commit (default: HEAD's first parent).")
@click.option("--head", metavar="REF", default="HEAD", show_default=True, help="Commit to release.")
@click.option("--json", "as_json", is_flag=True, help="Print {base, head, projects} as JSON.")
@click.pass_context
def command(ctx: click.Context, base: str | None, head: str, as_json: bool) -> None:
    """List projects whose directory, depends_on paths or shared files (mlci.yaml, the Jenkins
    library, the Jenkinsfile) changed between BASE and HEAD. Projects deleted at HEAD are left out."""
    root = repo_root(ctx)
    span = resolve_range(root, base, head)
    names = affected(snapshot(root, span.head), changed_paths(root, span), first_release=span.base is None)
    if as_json:
        click.echo(json.dumps({"base": span.base, "head": span.head, "projects": names}, indent=2))
    else:
        for name in names:
            click.echo(name)
