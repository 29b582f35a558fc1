"""`mlci push PROJECT [JOB]`: push a run's image to build.registry and record its digest."""

from __future__ import annotations

import click

from mlci import secrets
from mlci.commands._common import repo_root
from mlci.errors import UsageError
from mlci.manifest import load_manifest
from mlci.manifest.schema import Manifest
from mlci.publish.registry import push_image
from mlci.record.model import RunStatus
from mlci.record.readers import find_record
from mlci.record.store import RunRecord
from mlci.runner.engine import connect


def push_record(manifest: Manifest, record: RunRecord) -> str:
    if record.status != RunStatus.SUCCEEDED:
        raise UsageError(f"refusing to push {record.project} run {record.job_id}: its status is {record.status.value}")
    if not manifest.build.registry:
        raise UsageError("build.registry is not set in mlci.yaml", hint="add `build: {registry: HOST/NAMESPACE}`")
    return push_image(connect(), record, manifest.build.registry)


@click.command("push")
@click.argument("project")
@click.argument("job", required=False)
@click.pass_context
@secrets.redacted_errors
def command(ctx: click.Context, project: str, job: str | None) -> None:
    """Push the image of a run (default: the latest of PROJECT) to build.registry."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    record = find_record(root, project, job)
    reference = push_record(manifest, record)
    click.echo(f"✓ pushed {project} run {record.job_id}: {reference}")
