"""`mlci doctor`: diagnose this host (Docker, NVIDIA, GPUs, base image, disk, manifest, secrets, Jenkins)."""

from __future__ import annotations

import click

from mlci import secrets
from mlci.commands._common import repo_root
from mlci.errors import MlciError
from mlci.host.doctor import run_checks
from mlci.runner.engine import PROBE_TIMEOUT_S, connect
from mlci.runner.stage_cache import cache_path


def _docker():
    return connect(timeout=PROBE_TIMEOUT_S)


@click.command("doctor")
@click.option("--strict", is_flag=True, help="Treat GPU and secret checks as required (GPU hosts, CI agents).")
@click.option("--min-free-gb", default=20.0, show_default=True, help="Free space the cache disk needs.")
@click.option("--host", help="This host's name in mlci.yaml (default: the short hostname), for its GPU count.")
@click.pass_context
@secrets.redacted_errors
def command(ctx: click.Context, strict: bool, min_free_gb: float, host: str | None) -> None:
    """Check that this host can run mlci; exit 1 when a required check fails."""
    checks = run_checks(
        repo_root(ctx),
        strict=strict,
        min_free_gb=min_free_gb,
        cache_path=cache_path(),
        connect_docker=_docker,
        host=host,
    )
    for check in checks:
        click.echo(secrets.redact(check.line()))
    failed = [c.name for c in checks if c.failed_required]
    if failed:
        raise MlciError(f"{len(failed)} required check(s) failed: {', '.join(failed)}")
