"""`mlci compare JOB_A JOB_B`: metrics side by side with deltas, and what differs in config,
overrides, commit and image."""

from __future__ import annotations

import json
from typing import Any

import click

from mlci.commands._common import repo_root
from mlci.record.history import compare
from mlci.record.readers import find_job


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@click.command("compare")
@click.argument("job_a")
@click.argument("job_b")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def command(ctx: click.Context, job_a: str, job_b: str, as_json: bool) -> None:
    """Compare two runs, each named JOB or PROJECT/JOB (B minus A for deltas)."""
    root = repo_root(ctx)
    result = compare(find_job(root, job_a), find_job(root, job_b))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    a, b = result["a"], result["b"]
    click.echo(f"A: {a['project']}/{a['jobId']} ({a['status']})   B: {b['project']}/{b['jobId']} ({b['status']})")
    click.echo(f"\n{'METRIC':<24} {'A':>12} {'B':>12} {'B-A':>12}")
    for row in result["metrics"]:
        delta = f"{row['delta']:+.6g}" if row["delta"] is not None else "-"
        click.echo(f"{row['metric'][:24]:<24} {_fmt(row['a']):>12} {_fmt(row['b']):>12} {delta:>12}")
    for title, rows in (("overrides", result["overrides"]), ("config", result["config"])):
        if rows is None:
            click.echo(f"\n{title}: not kept by one of the runs (made before mlci kept the effective config)")
        elif rows:
            click.echo(f"\n{title} that differ:")
            for row in rows:
                click.echo(f"  {row['key']}: {_fmt(row['a'])} → {_fmt(row['b'])}")
    for what in ("commit", "image"):
        part = result[what]
        click.echo(f"\n{what}: " + ("same" if part["same"] else f"{_fmt(part['a'])} → {_fmt(part['b'])}"))
