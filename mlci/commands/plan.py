"""`mlci plan`: what the Jenkins release pipeline runs, one entry per project (JSON)."""

from __future__ import annotations

import json
import re

import click

from mlci.commands._common import repo_root
from mlci.errors import UsageError
from mlci.manifest.fields import NAME_RE
from mlci.manifest.project import max_attempts_option
from mlci.release.affected import plan
from mlci.release.environment_plan import EnvPlan, env_plan


def _project_list(value: str | None) -> list[str] | None:
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    for name in names:
        if not re.fullmatch(NAME_RE, name):
            raise UsageError(
                f"--projects: {name!r} is not a project name",
                hint="give a comma-separated list of names such as vision,nlp (lowercase letters, digits, dashes)",
            )
    return names or None


@click.command("plan")
@click.option("--base", metavar="REF", help="Last released commit (default: HEAD's first parent).")
@click.option("--head", metavar="REF", default="HEAD", show_default=True, help="Commit to release.")
@click.option("--projects", metavar="A,B", help="Only these projects (default: every affected project).")
@click.option("--force", is_flag=True, help="Plan the projects even if nothing they depend on changed.")
@click.option(
    "--max-attempts",
    metavar="N",
    help="Plan N attempts (1-20) instead of retrain.max_attempts: what `mlci run --max-attempts N` will make.",
)
@click.option(
    "--env",
    metavar="ENV",
    help="Plan a promotion or deployment of the one project --projects names to ENV instead of a release.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (what the Jenkins library reads).")
@click.pass_context
def command(
    ctx: click.Context,
    base: str | None,
    head: str,
    projects: str | None,
    force: bool,
    max_attempts: str | None,
    env: str | None,
    as_json: bool,
) -> None:
    """Plan a release: per project its GPU count (-1 = every GPU of the node), approval,
    submitter, approval timeout, artifact store, the secrets Jenkins binds and Jenkins' time limit
    (build allowance + attempts × the stages' timeouts) and the stages that need the GPU lease,
    all resolved from HEAD. With --env: what mlci-promote and mlci-deploy need for one project in one
    environment (approval, submitter, serving hosts, itest, secrets)."""
    if env is not None:
        release_only = {"--base": base, "--force": force, "--max-attempts": max_attempts}
        _env_plan(ctx, head, projects, env, as_json, given=[option for option, value in release_only.items() if value])
        return
    attempts = max_attempts_option(max_attempts)
    result = plan(repo_root(ctx), base, head, only=_project_list(projects), force=force, max_attempts=attempts)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    span = result.span
    click.echo(f"release {span.base[:12] if span.base else '(first release)'}..{span.head[:12]}")
    for p in result.projects:
        gpus = "all" if p.gpus < 0 else str(p.gpus)
        approval = f", approval by {p.submitter or 'anyone'}" if p.approval else ""
        click.echo(f"  {p.name}: gpus={gpus}, store={p.store}{approval}")
        click.echo(
            f"    time limit {p.timeout_s}s = build {p.build_s}s + {p.attempts} attempt(s) × stages {p.stages_s}s"
            f" + slack {p.slack_s}s"
        )
        if p.gpus:
            click.echo(f"    stages on the GPUs: {', '.join(p.gpu_stages) or 'none (no GPU lease)'}")
        click.echo(f"    secrets for mlci run: {', '.join(p.secrets) or 'none'}")
        click.echo(f"    secrets for mlci publish: {', '.join(p.publish_secrets) or 'none'}")
    if not result.projects:
        click.echo("  nothing to train")
    for name in result.skipped:
        click.echo(f"  {name}: unchanged, skipped (use --force to train it anyway)")


def _env_plan(ctx: click.Context, head: str, projects: str | None, env: str, as_json: bool, given: list[str]) -> None:
    """`given`: the release-only options the command line set, which --env refuses."""
    if given:
        raise UsageError(
            f"--env plans one environment; options of a release plan do not apply: {', '.join(given)}",
            hint="leave out " + ", ".join(given),
        )
    if not re.fullmatch(NAME_RE, env):
        raise UsageError(f"--env: {env[:64]!r} is not an environment name", hint="lowercase letters, digits, dashes")
    names = _project_list(projects) or []
    if len(names) != 1:
        raise UsageError(
            "--env needs exactly one project in --projects", hint="e.g. mlci plan --env prod --projects digits"
        )
    result = env_plan(repo_root(ctx), head, names[0], env)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    _print_env_plan(result)


def _print_env_plan(p: EnvPlan) -> None:
    click.echo(f"{p.project} to {p.env} at {p.commit[:12]}")
    approval = f"approval by {p.submitter} within {p.approval_timeout_s}s" if p.approval else "no approval"
    click.echo(f"  promote from store {p.source_store} to store {p.store}; {approval}")
    if p.deploy:
        click.echo(f"  deploy on {', '.join(p.deploy_hosts)}" + (", then mlci itest" if p.itest else ""))
    else:
        click.echo("  no deployment (the project has no serve:, or the environment names no hosts)")
    click.echo(f"    secrets for mlci promote: {', '.join(p.promote_secrets) or 'none'}")
    click.echo(f"    secrets for mlci deploy: {', '.join(p.deploy_secrets) or 'none'}")
