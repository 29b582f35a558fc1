"""`mlci doctor`: diagnose this host (Docker, NVIDIA, GPUs, base image, disk, manifest, secrets, Jenkins);
`mlci doctor --gpu-smoke`: the GPU host's smoke check (mlci/host/gpu_smoke.py)."""

from __future__ import annotations

import json

import click

from mlci import secrets
from mlci.commands._common import repo_root
from mlci.errors import MlciError, UsageError
from mlci.host import gpu_smoke
from mlci.host.doctor import run_checks
from mlci.host.gpu_facts import RealHost
from mlci.manifest import load_manifest
from mlci.manifest.schema import DEFAULT_BASE_IMAGE
from mlci.runner.engine import PROBE_TIMEOUT_S, connect
from mlci.runner.stage_cache import cache_path


def _docker():
    return connect(timeout=PROBE_TIMEOUT_S)


@click.command("doctor")
@click.option("--strict", is_flag=True, help="Treat GPU and secret checks as required (GPU hosts, CI agents).")
@click.option("--min-free-gb", default=20.0, show_default=True, help="Free space the cache disk needs.")
@click.option("--host", help="This host's name in mlci.yaml (default: the short hostname), for its GPU count.")
@click.option(
    "--gpu-smoke", is_flag=True, help="Run the GPU smoke check instead: exit 0 pass, 1 a check failed, 3 no GPU."
)
@click.option("--json", "as_json", is_flag=True, help="With --gpu-smoke: print the report as JSON.")
@click.option(
    "--allow-disruptive", is_flag=True, help="With --gpu-smoke: daemon-reload even while other GPU containers run."
)
@click.option("--image", help="With --gpu-smoke: the local image for GPU containers (default: build.base_image).")
@click.option("--expect-gpus", type=click.IntRange(min=1), help="With --gpu-smoke: this host must have N GPUs.")
@click.pass_context
@secrets.redacted_errors
def command(
    ctx: click.Context,
    strict: bool,
    min_free_gb: float,
    host: str | None,
    gpu_smoke: bool,
    as_json: bool,
    allow_disruptive: bool,
    image: str | None,
    expect_gpus: int | None,
) -> int | None:
    """Check that this host can run mlci; exit 1 when a required check fails."""
    if gpu_smoke:
        return _gpu_smoke(ctx, as_json, allow_disruptive, image, expect_gpus)  # main() exits with it
    if as_json or allow_disruptive or image or expect_gpus:
        raise UsageError("--json, --allow-disruptive, --image and --expect-gpus go with --gpu-smoke")
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


def _gpu_smoke(ctx: click.Context, as_json: bool, allow_disruptive: bool, image: str | None, expect: int | None) -> int:
    options = gpu_smoke.Options(image or _base_image(ctx), allow_disruptive=allow_disruptive, expect_gpus=expect)
    report = gpu_smoke.run_smoke(RealHost(), _docker, options)
    if as_json:
        click.echo(secrets.redact(json.dumps(report.as_json(), indent=2)))
    else:
        for line in report.lines():
            click.echo(secrets.redact(line))
    return report.exit_code


def _base_image(ctx: click.Context) -> str:
    """The manifest's build.base_image when run inside a monorepo, else mlci's default."""
    try:
        return load_manifest(repo_root(ctx)).build.base_image
    except MlciError:
        return DEFAULT_BASE_IMAGE
