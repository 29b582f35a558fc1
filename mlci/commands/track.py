"""`mlci track PROJECT JOB`: send a finished run to the MLflow server of `tracking.mlflow` (again).

What `mlci run` does on its own when it ends; this sends a run whose tracker was down then, or
updates the MLflow run after the server lost it. Sending twice updates the same MLflow run."""

from __future__ import annotations

import click

from mlci.commands._common import remember_secrets, repo_root
from mlci.errors import UsageError
from mlci.manifest import load_manifest
from mlci.record.readers import find_record
from mlci.track.mlflow import track_run


@click.command("track")
@click.argument("project")
@click.argument("job")
@click.pass_context
def command(ctx: click.Context, project: str, job: str) -> None:
    """Send JOB of PROJECT to MLflow; exit 0 when sent, 1 when the server failed (the record notes why)."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    if manifest.tracking.mlflow is None:
        raise UsageError(
            "mlci.yaml sets no tracking server",
            hint="add `tracking: {mlflow: {uri: https://mlflow.example}}` to mlci.yaml (README: Tracking in MLflow)",
        )
    record = find_record(root, project, job, everywhere=True)
    if record.active and record.status.active:
        raise UsageError(f"run {job} of {project} is still {record.status.value}", hint="track it once it has ended")
    remember_secrets(root, manifest, project)
    tracking = track_run(root, manifest, record)
    if tracking.warning:
        click.echo(f"mlci: MLflow: {tracking.warning}", err=True)
        ctx.exit(1)
    click.echo(f"mlci: MLflow: {tracking.url}")
