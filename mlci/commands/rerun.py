"""`mlci rerun PROJECT JOB`: run a recorded job again with the same image and the same effective
config, as a new job that links to the original (never published again)."""

from __future__ import annotations

import click

from mlci.commands._common import repo_root
from mlci.commands.run import run_and_report
from mlci.errors import UsageError
from mlci.manifest import load_manifest, load_project
from mlci.record.history import record_config_path
from mlci.record.readers import find_record
from mlci.run.machine import RunOptions


@click.command("rerun")
@click.argument("project")
@click.argument("job")
@click.option("--job-id", help="The new job's id (default: <JOB>-rerun, -2, -3… when taken).")
@click.option("--quiet", "-q", is_flag=True, help="Do not stream the stage logs to the console.")
@click.pass_context
def command(ctx: click.Context, project: str, job: str, job_id: str | None, quiet: bool) -> None:
    """Reproduce JOB of PROJECT: same image (by digest when pushed), same config, new job id."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    spec = load_project(root, project)
    original = find_record(root, project, job, everywhere=True)
    build = original.state.build
    image = build.repo_digest or build.image_id
    if not image:
        raise UsageError(f"run {job} of {project} recorded no image (its build did not finish)", hint="run it anew")
    experiment = original.state.experiment
    options = RunOptions(
        job_id=job_id,
        echo=not quiet,
        image=image,
        config_from=record_config_path(original),
        rerun_of=original.job_id,
        experiment=experiment.name if experiment else None,
        recorded_overrides=dict(experiment.overrides) if experiment else None,
        default_job=f"{original.job_id[:120]}-rerun",
    )
    if options.config_from is None and (spec.path / "config.yaml").exists():
        click.echo(
            f"mlci: run {job} kept no effective config (made by an older mlci): the project's config.yaml is used",
            err=True,
        )
    run_and_report(ctx, root, manifest, spec, options)
