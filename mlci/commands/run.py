"""`mlci run PROJECT`: build the project's image and run its stages, gate and retrains locally,
exactly as Jenkins does on the GPU host."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from mlci.commands._common import repo_root
from mlci.contract import JOB_ID_RE, STATUS_FILE
from mlci.errors import Cancelled, UsageError
from mlci.manifest import Manifest, ProjectSpec, load_manifest, load_project
from mlci.manifest.project import MAX_ATTEMPTS, max_attempts_option
from mlci.record.model import RunStatus
from mlci.run.engine_port import DockerRunEngine
from mlci.run.machine import ProjectRun, RunOptions
from mlci.run.overrides import parse_set, read_set_file
from mlci.runner.engine import connect
from mlci.runner.gpus import parse_cli_gpus
from mlci.secrets import redact
from mlci.track.mlflow import track_run


def _raise_cancelled(signum: int, frame: object) -> None:
    raise Cancelled("terminated")


@click.command("run")
@click.argument("project")
@click.option("--job-id", help="Job id (default: short commit hash, -dirty when the tree has changes).")
@click.option(
    "--gpus",
    help="auto | all | none | count=N (N GPUs) | device=0,1 (those GPU indexes) (default: project.yaml).",
)
@click.option(
    "--max-attempts",
    metavar="N",
    help=f"At most N attempts (1-{MAX_ATTEMPTS}) for this run (default: project.yaml's retrain.max_attempts).",
)
@click.option("--no-cache", is_flag=True, help="Rebuild the image even when its content hash is known.")
@click.option("--quiet", "-q", is_flag=True, help="Do not stream build and stage logs to the console.")
@click.option("--verbose", "-v", is_flag=True, help="Show the image build's full output, not one line per phase.")
@click.option("--image", help="Run this image (tag, id or REPO@sha256:...) instead of building: reproduce a run.")
@click.option("--push", is_flag=True, help="Push the image to build.registry when the gate passes.")
@click.option(
    "--experiment", help="Make this an experiment run named NAME: recorded with its overrides, never published."
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config.yaml value by dotted key for this experiment (repeatable), e.g. --set optimizer.lr=0.01.",
)
@click.option(
    "--set-file",
    "set_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Read --set values from PATH, one key=value per line (before any --set, which wins).",
)
@click.pass_context
def command(
    ctx: click.Context,
    project: str,
    job_id: str | None,
    gpus: str | None,
    max_attempts: str | None,
    no_cache: bool,
    quiet: bool,
    verbose: bool,
    image: str | None,
    push: bool,
    experiment: str | None,
    overrides: tuple[str, ...],
    set_file: Path | None,
) -> None:
    """Build PROJECT's image and run its stages; exit 0 when the gate passed, 1 when it failed."""
    attempts = max_attempts_option(max_attempts)  # before anything runs: a bad value is a usage error
    # Names and overrides are checked before anything else: Jenkins passes them from job parameters.
    if experiment is not None and not JOB_ID_RE.fullmatch(experiment):
        raise UsageError(
            f"experiment name {experiment[:80]!r} is not valid",
            hint="use letters, digits, '.', '_' and '-' (max 128), as for job ids",
        )
    items = [*(read_set_file(set_file) if set_file else []), *overrides]
    if items and experiment is None:
        raise UsageError("--set needs --experiment NAME", hint="an override makes the run an experiment")
    parsed = parse_set(items)
    root = repo_root(ctx)
    manifest = load_manifest(root)
    spec = load_project(root, project)
    if image and no_cache:
        raise UsageError("--image and --no-cache exclude each other", hint="--image runs an existing image as is")
    options = RunOptions(
        job_id=job_id,
        gpus=parse_cli_gpus(gpus) if gpus else None,
        no_cache=no_cache,
        echo=not quiet,
        verbose=verbose and not quiet,
        image=image,
        push=push,
        experiment=experiment,
        overrides=parsed,
        max_attempts=attempts,
    )
    run_and_report(ctx, root, manifest, spec, options)


def run_and_report(ctx: click.Context, root: Path, manifest: Manifest, spec: ProjectSpec, options: RunOptions) -> None:
    """Run with signals wired for a clean cancel, print the outcome; exit 1 unless it succeeded."""
    client = connect()
    signal.signal(signal.SIGTERM, _raise_cancelled)
    # A background job of a non-interactive shell starts with SIGINT ignored, and Python keeps that:
    # install the handler explicitly so Ctrl-C / kill -INT always cancels cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    record = ProjectRun(DockerRunEngine(client), root, manifest, spec, options).execute()
    state = record.state
    summary = f"{spec.name} {record.job_id}: {state.overall_status.value}"
    if state.experiment is not None:
        summary += f" (experiment {state.experiment.name})"
    if state.metrics:
        summary += " — " + ", ".join(f"{k}={v:g}" for k, v in sorted(state.metrics.items()))
    click.echo(redact(f"mlci: {summary}"), err=True)
    if url := state.run.artifact_url:
        click.echo(f"mlci: artifacts: {url}", err=True)
    click.echo(f"mlci: record: {record.dir / STATUS_FILE}", err=True)
    if manifest.tracking.mlflow is not None:
        tracking = track_run(root, manifest, record)
        click.echo(f"mlci: MLflow: {tracking.warning or tracking.url}", err=True)
    if state.overall_status != RunStatus.SUCCEEDED:
        ctx.exit(1)
