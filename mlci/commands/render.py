"""`mlci render [--check] [--diff] [--out DIR]`: generate the stack's files from mlci.yaml."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.commands._common import repo_root
from mlci.errors import MlciError
from mlci.render import plan
from mlci.render.output import drift, write


@click.command("render")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 listing every stale or missing file with a diff.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print the diff of what would change.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write (or compare) under DIR instead of the repository root.",
)
@click.pass_context
def command(ctx: click.Context, check: bool, show_diff: bool, out: Path | None) -> None:
    """Render Jenkins (JCasC, image), compose, frpc, workflows and Ansible inventory from mlci.yaml."""
    root = repo_root(ctx)
    target = out.resolve() if out else root
    files = plan(root)
    if check or show_diff:
        changes = drift(target, files)
        for change in changes:
            click.echo(f"{change.state}: {change.path}", err=check)
            click.echo(change.diff, nl=False)
        if check and changes:
            raise MlciError(f"{len(changes)} rendered file(s) out of date", hint="run `mlci render` and commit them")
        if not changes:
            click.echo(f"✓ {len(files)} rendered files are up to date")
        return
    changed = write(target, files)
    for change in changed:
        click.echo(f"wrote {change.path} ({'new' if change.state == 'missing' else 'updated'})")
    click.echo(f"✓ {len(files) - len(changed)} unchanged, {len(changed)} written under {target}")
