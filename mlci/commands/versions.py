"""`mlci versions PROJECT [--store NAME] [--json]`: the model versions published to a store, newest
first, read from the store's own version index."""

from __future__ import annotations

import json

import click

from mlci import secrets
from mlci.commands._common import remember_secrets, repo_root
from mlci.manifest import load_manifest
from mlci.publish.publishing import store_name_for
from mlci.publish.stores import open_store
from mlci.publish.versions import VersionEntry, newest_first


@click.command("versions")
@click.argument("project")
@click.option("--store", "store_name", help="Store name from mlci.yaml artifacts.stores (default: the project's).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: the index entries, newest first.")
@click.pass_context
@secrets.redacted_errors
def command(ctx: click.Context, project: str, store_name: str | None, as_json: bool) -> None:
    """List PROJECT's model versions in a store, newest first."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    remember_secrets(root, manifest, project)
    name = store_name_for(root, manifest, project, store_name)
    entries = newest_first(open_store(manifest, name, root).versions(project))
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"no versions of {project} in store '{name}' — publish one with `mlci publish {project}`")
        return
    click.echo(f"{'VERSION':<8} {'JOB':<24} {'PUBLISHED':<17} {'COMMIT':<12} {'GATE':<26} {'APPROVED BY':<12} URL")
    for entry in entries:
        click.echo(secrets.redact(_line(entry)))


def _line(entry: VersionEntry) -> str:
    gate = entry.gate
    if gate is None:
        verdict = "-"
    elif gate.metric:
        value = f"{gate.value:.6g}" if gate.value is not None else "?"
        verdict = f"{'pass' if gate.passed else 'FAIL'} {gate.metric}={value}"
    else:
        verdict = "pass (no gate)" if gate.passed else "FAIL"
    return (
        f"{entry.version:<8} {entry.job_id[:24]:<24} {entry.published_at[:16].replace('T', ' '):<17} "
        f"{(entry.commit or '-')[:12]:<12} {verdict[:26]:<26} {(entry.approved_by or '-')[:12]:<12} {entry.url}"
    )
