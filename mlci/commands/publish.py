"""`mlci publish PROJECT [JOB] [--store NAME]`: publish a run whose gate passed to an artifact store."""

from __future__ import annotations

import click

from mlci import secrets
from mlci.commands._common import remember_secrets, repo_root
from mlci.commands.push import push_record
from mlci.manifest import load_manifest
from mlci.publish.publishing import publish_run, refuse_unless_passed
from mlci.record.readers import find_record


@click.command("publish")
@click.argument("project")
@click.argument("job", required=False)
@click.option("--store", "store_name", help="Store name from mlci.yaml artifacts.stores (default: the project's).")
@click.option("--push", is_flag=True, help="Also push the run's image to build.registry and record its digest.")
@click.option(
    "--approved-by", envvar="MLCI_APPROVER", help="Who approved publishing, noted in the store's version index."
)
@click.pass_context
@secrets.redacted_errors
def command(
    ctx: click.Context, project: str, job: str | None, store_name: str | None, push: bool, approved_by: str | None
) -> None:
    """Publish a run whose evaluation gate passed (default: the latest run of PROJECT)."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    remember_secrets(root, manifest, project)
    record = find_record(root, project, job)
    if push:
        refuse_unless_passed(record)
        push_record(manifest, record)
    publication = publish_run(root, manifest, record, store_name, approved_by=approved_by or None)
    version = f" as {publication.version}" if publication.version else ""
    click.echo(secrets.redact(f"✓ published {project} run {record.job_id}{version}: {publication.url}"))
