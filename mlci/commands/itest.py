"""`mlci itest PROJECT --env ENV [--timeout DURATION]`: run the project's serve.itest against its
deployed service; exit 0 passed, 1 failed or timed out, 2 usage (no serve.itest, nothing deployed)."""

from __future__ import annotations

import click

from mlci import secrets
from mlci.commands._common import cancel_on_signals, remember_secrets, repo_root, say
from mlci.deploy.actions import itest_project, record_verdict
from mlci.errors import EXIT_FAILED
from mlci.manifest import load_manifest
from mlci.manifest.units import parse_duration


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("itest")
@click.argument("project")
@click.option("--env", "env_name", required=True, help="Environment name from mlci.yaml environments.")
@click.option("--timeout", callback=_duration, help="Longest the test may run, e.g. 5m (default: serve.itest.timeout).")
@click.pass_context
@secrets.redacted_errors
def command(ctx: click.Context, project: str, env_name: str, timeout: int | None) -> None:
    """Run PROJECT's integration test (serve.itest) against what serves in ENV."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    remember_secrets(root, manifest, project)
    cancel_on_signals()
    result = itest_project(root, manifest, project, env_name, timeout_s=timeout, say=say)
    recorded = record_verdict(root, manifest, result)
    if not recorded:
        click.echo(
            f"note: {project} {result.version} was deployed to {env_name} without being promoted there: the verdict"
            " is not recorded for promotion gates (`after:`)",
            err=True,
        )
    if result.passed:
        click.echo(
            f"✓ itest passed: {project} {result.version} in {env_name} ({result.seconds:.1f}s); log {result.log}"
        )
        return
    why = "timed out (stopped and removed)" if result.timed_out else f"exited with code {result.exit_code}"
    click.echo(
        f"✗ itest failed: {project} {result.version} in {env_name} {why} ({result.seconds:.1f}s); log {result.log}",
        err=True,
    )
    ctx.exit(EXIT_FAILED)
