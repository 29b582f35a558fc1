"""`mlci trigger (--release [--base REF --head REF] | PROJECT) [--param K=V] [--wait] [--follow]`."""

from __future__ import annotations

import click

from mlci import secrets
from mlci.commands._common import repo_root
from mlci.errors import UsageError
from mlci.manifest import load_manifest
from mlci.manifest.units import parse_duration
from mlci.release.jenkins import (
    PROJECT_PARAMS,
    RELEASE_JOB,
    RELEASE_PARAMS,
    connect,
    parse_params,
    project_job,
    result_exit,
)


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("trigger")
@click.argument("project", required=False)
@click.option("--release", is_flag=True, help=f"Start the release pipeline ({RELEASE_JOB}).")
@click.option("--base", "base_ref", help="Release: compare from this ref (BASE_REF).")
@click.option("--head", "head_ref", help="Release: compare up to this ref (HEAD_REF).")
@click.option("--param", "params", multiple=True, metavar="K=V", help="A job parameter; repeatable.")
@click.option("--wait", is_flag=True, help="Wait for the build's result and exit with it.")
@click.option("--follow", is_flag=True, help="Stream the build's console until it finishes (implies --wait).")
@click.option("--url", help="Jenkins URL (default: $MLCI_JENKINS_URL, then jenkins.url).")
@click.option("--timeout", default="6h", callback=_duration, help="Longest wait for the result, e.g. 2h.")
@click.option("--queue-timeout", default="10m", callback=_duration, help="Longest wait for the build to start.")
@click.option("--poll-interval", default=2.0, type=float, hidden=True)
@click.pass_context
@secrets.redacted_errors
def command(
    ctx: click.Context,
    project: str | None,
    release: bool,
    base_ref: str | None,
    head_ref: str | None,
    params: tuple[str, ...],
    wait: bool,
    follow: bool,
    url: str | None,
    timeout: int,
    queue_timeout: int,
    poll_interval: float,
) -> None:
    """Start a Jenkins build of the release pipeline or of one project, and follow it.

    Always follows the queue item to the build it becomes and prints that build's URL; with
    --wait or --follow it then exits 0 only when the build's result is SUCCESS.
    """
    if release == bool(project):
        raise UsageError(
            "give either --release or a PROJECT", hint="e.g. `mlci trigger --release` or `mlci trigger digits`"
        )
    if project and (base_ref or head_ref):
        raise UsageError("--base and --head apply to --release only")
    if release:
        job, values = RELEASE_JOB, parse_params(params, RELEASE_PARAMS, RELEASE_JOB)
        values.update({k: v for k, v in (("BASE_REF", base_ref), ("HEAD_REF", head_ref)) if v})
    else:
        assert project is not None
        job = project_job(project)
        values = parse_params(params, PROJECT_PARAMS, job)

    manifest = load_manifest(repo_root(ctx))
    client = connect(manifest, url, poll_interval=poll_interval)
    queue_id = client.start(job, values)
    click.echo(f"queued {job} (queue item {queue_id})", err=True)
    number, build_url = client.wait_for_build(queue_id, timeout=queue_timeout)
    click.echo(f"{job} #{number}: {build_url}")
    if follow:
        result = client.stream_console(job, number, lambda text: click.echo(text, nl=False), timeout=timeout)
    elif wait:
        result = client.wait_for_result(job, number, timeout=timeout)
    else:
        return
    click.echo(f"{job} #{number} finished: {result}", err=True)
    result_exit(job, number, result)
