"""`mlci trigger (--release [--base REF --head REF] | PROJECT | --experiment NAME [--ref REF] PROJECT...
[--set K=V]... | --promote PROJECT VERSION --to ENV | --deploy PROJECT --env ENV [--version V])
[--param K=V] [--wait] [--follow]`."""

from __future__ import annotations

import click

from mlci import secrets
from mlci.commands._common import repo_root
from mlci.contract import JOB_ID_RE, PROJECT_RE, REF_RE
from mlci.errors import UsageError
from mlci.manifest import load_manifest
from mlci.manifest.units import parse_duration
from mlci.release.env_jobs import DEPLOY_JOB, PROMOTE_JOB, deploy_params, promote_params
from mlci.release.jenkins import (
    EXPERIMENT_JOB,
    PROJECT_PARAMS,
    RELEASE_JOB,
    RELEASE_PARAMS,
    connect,
    parse_params,
    project_job,
    result_exit,
)
from mlci.run.overrides import parse_set


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("trigger")
@click.argument("projects", nargs=-1, metavar="[PROJECT]...")
@click.option("--release", is_flag=True, help=f"Start the release pipeline ({RELEASE_JOB}).")
@click.option("--base", "base_ref", help="Release: compare from this ref (BASE_REF).")
@click.option("--head", "head_ref", help="Release: compare up to this ref (HEAD_REF).")
@click.option("--experiment", help=f"Start {EXPERIMENT_JOB}: train the PROJECTs as experiment NAME, never published.")
@click.option(
    "--ref", help="Experiment: the branch, tag or commit to train (default: the job's, the repository branch)."
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Experiment: override a config.yaml value by dotted key (repeatable), as `mlci run --set`.",
)
@click.option("--promote", is_flag=True, help=f"Start {PROMOTE_JOB}: promote PROJECT VERSION to the environment --to.")
@click.option("--to", "to_env", metavar="ENV", help="Promote: the environment.")
@click.option("--deploy", is_flag=True, help=f"Start {DEPLOY_JOB}: deploy PROJECT to the environment --env.")
@click.option("--env", "deploy_env", metavar="ENV", help="Deploy: the environment.")
@click.option("--version", "deploy_version", metavar="V", help="Deploy: the version (default: the current one).")
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
    projects: tuple[str, ...],
    release: bool,
    base_ref: str | None,
    head_ref: str | None,
    experiment: str | None,
    ref: str | None,
    overrides: tuple[str, ...],
    promote: bool,
    to_env: str | None,
    deploy: bool,
    deploy_env: str | None,
    deploy_version: str | None,
    params: tuple[str, ...],
    wait: bool,
    follow: bool,
    url: str | None,
    timeout: int,
    queue_timeout: int,
    poll_interval: float,
) -> None:
    """Start a Jenkins build of the release pipeline, of one project, of an experiment, of a promotion
    or of a deployment, and follow it.

    Always follows the queue item to the build it becomes and prints that build's URL; with
    --wait or --follow it then exits 0 only when the build's result is SUCCESS.
    """
    if (promote or deploy) and (
        release or base_ref or head_ref or experiment is not None or ref or overrides or params
    ):
        raise UsageError(
            "--promote and --deploy take their own arguments only (not --release, --experiment or --param)"
        )
    if not promote and to_env is not None:
        raise UsageError("--to applies to --promote only", hint="e.g. `mlci trigger --promote digits v3 --to prod`")
    if not deploy and (deploy_env is not None or deploy_version is not None):
        raise UsageError(
            "--env and --version apply to --deploy only", hint="e.g. `mlci trigger --deploy digits --env prod`"
        )
    if promote and deploy:
        raise UsageError("give either --promote or --deploy")
    manifest = load_manifest(repo_root(ctx))
    if promote:
        if len(projects) != 2 or to_env is None:
            raise UsageError(
                "--promote takes PROJECT VERSION and --to ENV", hint="e.g. `mlci trigger --promote digits v3 --to prod`"
            )
        job, values = PROMOTE_JOB, promote_params(manifest, projects[0], projects[1], to_env)
    elif deploy:
        if len(projects) != 1 or deploy_env is None:
            raise UsageError(
                "--deploy takes PROJECT and --env ENV", hint="e.g. `mlci trigger --deploy digits --env prod`"
            )
        job, values = DEPLOY_JOB, deploy_params(manifest, projects[0], deploy_env, deploy_version)
    elif experiment is not None:
        if release or base_ref or head_ref or params:
            raise UsageError("--experiment takes PROJECT..., --ref and --set; not --release, --base, --head or --param")
        job, values = EXPERIMENT_JOB, _experiment_params(experiment, ref, projects, overrides)
    else:
        if ref or overrides:
            raise UsageError(
                "--ref and --set apply to --experiment only",
                hint="e.g. `mlci trigger --experiment lr-sweep --ref main digits --set lr=0.01`",
            )
        if release == bool(projects) or len(projects) > 1:
            raise UsageError(
                "give either --release or a PROJECT", hint="e.g. `mlci trigger --release` or `mlci trigger digits`"
            )
        if projects and (base_ref or head_ref):
            raise UsageError("--base and --head apply to --release only")
        if release:
            job, values = RELEASE_JOB, parse_params(params, RELEASE_PARAMS, RELEASE_JOB)
            values.update({k: v for k, v in (("BASE_REF", base_ref), ("HEAD_REF", head_ref)) if v})
        else:
            job = project_job(projects[0])
            values = parse_params(params, PROJECT_PARAMS, job)
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


def _experiment_params(
    name: str, ref: str | None, projects: tuple[str, ...], overrides: tuple[str, ...]
) -> dict[str, str]:
    """The experiment job's parameters, checked here as the job and `mlci run` check them, so a typo
    is a usage error before Jenkins is contacted."""
    if not JOB_ID_RE.fullmatch(name):
        raise UsageError(
            f"experiment name {name[:80]!r} is not valid",
            hint="use letters, digits, '.', '_' and '-' (max 128), as for job ids",
        )
    if not projects:
        raise UsageError(
            "--experiment needs one or more PROJECTs", hint="e.g. `mlci trigger --experiment lr-sweep digits`"
        )
    for project in projects:
        if not PROJECT_RE.fullmatch(project):
            raise UsageError(
                f"{project[:80]!r} is not a valid project name", hint="use lowercase letters, digits and dashes"
            )
    if ref is not None and (not REF_RE.fullmatch(ref) or ref.startswith("-")):
        raise UsageError(f"--ref {ref[:80]!r} is not a Git ref", hint="pass a branch, tag or commit sha")
    parse_set(overrides)  # key=value with a dotted key and one YAML value each, as `mlci run --set` takes them
    values = {"PROJECTS": ",".join(dict.fromkeys(projects)), "EXPERIMENT": name, "OVERRIDES": "\n".join(overrides)}
    return {"REF": ref, **values} if ref is not None else values
