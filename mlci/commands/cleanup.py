"""`mlci cleanup PROJECT --job ID`: remove what is left of a job's stage containers on this host."""

from __future__ import annotations

import click

from mlci.runner.cleanup import job_filters, remove_job_containers
from mlci.runner.engine import connect


@click.command("cleanup")
@click.argument("project")
@click.option("--job", "job_id", required=True, help="The job id whose containers to remove (label mlci.job).")
def command(project: str, job_id: str) -> None:
    """Remove PROJECT's stage containers of one job (labels mlci.project and mlci.job), running or not.

    Jenkins runs it after every `mlci run`, however the build ended; it needs no monorepo."""
    job_filters(project, job_id)  # a bad name is a usage error before the engine is asked
    removed = remove_job_containers(connect(), project, job_id)
    if removed:
        click.echo(f"removed {len(removed)} leftover container(s) of {project} job {job_id}: {', '.join(removed)}")
    else:
        click.echo(f"no containers left of {project} job {job_id}")
