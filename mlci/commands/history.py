"""`mlci history PROJECT`: a project's runs newest first — commit, experiment, overrides, image,
status, gate and one metric — from the runs directory and the checkout's own runs."""

from __future__ import annotations

import json

import click

from mlci.commands._common import repo_root
from mlci.manifest import load_project
from mlci.record.history import history_row, select
from mlci.record.readers import iter_records


@click.command("history")
@click.argument("project")
@click.option("--metric", help="Show this metric (and only runs that have it).")
@click.option("--experiment", help="Only runs of this experiment ('-' for release runs only).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000), help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def command(
    ctx: click.Context, project: str, metric: str | None, experiment: str | None, limit: int, as_json: bool
) -> None:
    """List PROJECT's runs, newest first, with the chosen metric."""
    root = repo_root(ctx)
    load_project(root, project)  # a clear error for an unknown project
    records = select(
        list(iter_records(root, project, everywhere=True)), experiment=experiment, metric=metric, limit=limit
    )
    rows = [history_row(r, metric) for r in records]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no runs of {project} match — start one with `mlci run {project}`")
        return
    head = f"{'JOB':<24} {'WHEN':<17} {'STATUS':<12} {'GATE':<5} {'COMMIT':<12} {'EXPERIMENT':<16}"
    click.echo(head + (f" {metric.upper()[:12]:>12}" if metric else "") + "  OVERRIDES")
    for row in rows:
        line = (
            f"{row['jobId'][:24]:<24} {row['createdAt'][:16].replace('T', ' '):<17} {row['status']:<12} "
            f"{row['gate'] or '-':<5} {row['commit'] or '-':<12} {(row['experiment'] or '-')[:16]:<16}"
        )
        if metric:
            line += f" {row['metric']:>12.6g}" if row["metric"] is not None else f" {'-':>12}"
        overrides = " ".join(f"{k}={v}" for k, v in row["overrides"].items())
        click.echo(line + ("  " + overrides if overrides else ""))
