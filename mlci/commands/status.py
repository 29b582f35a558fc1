"""`mlci status [PROJECT] [--json]`: the latest runs, with a dead run shown as Interrupted."""

from __future__ import annotations

import json

import click

from mlci.commands._common import repo_root
from mlci.manifest import load_project
from mlci.record.readers import iter_records
from mlci.record.store import RunRecord

_GATE_KEYS = {"metric", "op", "threshold", "value", "passed"}


def summarize(record: RunRecord) -> dict:
    state = record.state
    gate = state.gate
    return {
        "project": record.project,
        "jobId": record.job_id,
        "status": record.status.value,
        "startedAt": state.started_at,
        "durationS": round(record.duration_s() or 0, 1),
        "attempts": len(state.attempts),
        "metrics": state.metrics,
        "gate": None if gate is None or not gate.metric else gate.model_dump(include=_GATE_KEYS),
        "imageUri": state.build.image_uri,
        "cacheHit": state.build.cache_hit,
        "artifactUrl": state.run.artifact_url,
        "error": state.error,
        "record": str(record.dir),
    }


@click.command("status")
@click.argument("project", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--limit", default=10, show_default=True, help="How many runs to show.")
@click.pass_context
def command(ctx: click.Context, project: str | None, as_json: bool, limit: int) -> None:
    """Show the latest runs (of PROJECT, or of all projects)."""
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
