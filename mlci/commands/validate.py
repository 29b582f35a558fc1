"""`mlci validate`: check mlci.yaml and every project.yaml; exit 2 with one line per problem.

When the manifest describes hosts (a deployment), what `mlci render` needs is checked too, so a
pull request learns about it before anyone renders."""

from __future__ import annotations

import click

from mlci.commands._common import repo_root
from mlci.errors import ConfigError
from mlci.manifest import load_all
from mlci.manifest.loader import MANIFEST_FILE
from mlci.manifest.yamlsource import load_yaml
from mlci.render.checks import adoption_warnings, render_problems


@click.command("validate")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Validate mlci.yaml and every projects/*/project.yaml."""
    root = repo_root(ctx)
    manifest, projects = load_all(root)
    if manifest.hosts:
        problems = render_problems(manifest, load_yaml(root / MANIFEST_FILE, MANIFEST_FILE))
        if problems:
            raise ConfigError(problems)
    if (root / MANIFEST_FILE).is_file():
        for warning in adoption_warnings(manifest, load_yaml(root / MANIFEST_FILE, MANIFEST_FILE)):
            click.echo(warning, err=True)
    names = ", ".join(p.name for p in projects) or "none"
    click.echo(f"✓ {manifest.name}: manifest valid; {len(projects)} project(s): {names}")
