"""`mlci status [PROJECT] [--json]`: the latest runs, with a dead run shown as Interrupted."""

from __future__ import annotations

import json

import click

from mlci.commands._common import repo_root


def summarize(record) -> dict:
    data = record.data
    gate = data.get("gate") or {}
    return {
        "project": record.project,
        "jobId": record.job_id,
        "status": record.status,
        "startedAt": data.get("startedAt"),
        "durationS": round(record.duration_s() or 0, 1),
        "attempts": len(data.get("attempts") or []),
        "metrics": data.get("metrics") or {},
        "gate": None
        if not gate.get("metric")
        else {k: gate.get(k) for k in ("metric", "op", "threshold", "value", "passed")},
        "imageUri": (data.get("build") or {}).get("imageUri"),
        "cacheHit": (data.get("build") or {}).get("cacheHit"),
        "artifactUrl": (data.get("run") or {}).get("artifactUrl"),
        "error": data.get("error"),
        "record": str(record.dir),
    }


@click.command("status")
@click.argument("project", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", default=10, show_default=True, help="How many runs to show.")
@click.pass_context
def command(ctx: click.Context, project: str | None, as_json: bool, limit: int) -> None:
    """Show the latest runs (of PROJECT, or of all projects)."""
    from mlci.manifest import load_project
    from mlci.record.store import iter_records

    root = repo_root(ctx)
    if project:
        load_project(root, project)  # a clear error for an unknown project
    rows = [summarize(r) for _, r in zip(range(limit), iter_records(root, project), strict=False)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no runs yet — start one with `mlci run PROJECT`")
        return
    header = f"{'PROJECT':<16} {'JOB':<24} {'STATUS':<12} {'TIME':>7} {'TRY':>3}  GATE / METRICS"
    click.echo(header)
    for row in rows:
        gate = row["gate"]
        if gate and gate["value"] is not None:
            verdict = "pass" if gate["passed"] else "FAIL"
            detail = f"{gate['metric']}={gate['value']:g} {gate['op']} {gate['threshold']:g} {verdict}"
        else:
            detail = ", ".join(f"{k}={v:g}" for k, v in sorted(row["metrics"].items())) or (row["error"] or "")[:60]
        click.echo(
            f"{row['project']:<16} {row['jobId']:<24} {row['status']:<12} {row['durationS']:>6.1f}s"
            f" {row['attempts']:>3}  {detail}"
        )
