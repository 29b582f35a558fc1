"""`mlci versions PROJECT [--store NAME] [--json]`: the model versions published to a store, newest
first, read from the store's own version index; `--env ENV`: what is current in an environment, its
promotion history and its integration-test verdicts, read from the logs of the environment's store."""

from __future__ import annotations

import json

import click

from mlci import secrets
from mlci.commands._common import remember_secrets, repo_root
from mlci.manifest import load_manifest
from mlci.publish.promotion import check_project, history, itests
from mlci.publish.promotion_log import ItestVerdict, Promotion
from mlci.publish.publishing import store_name_for
from mlci.publish.stores import open_store
from mlci.publish.versions import VersionEntry, newest_first


@click.command("versions")
@click.argument("project")
@click.option("--store", "store_name", help="Store name from mlci.yaml artifacts.stores (default: the project's).")
@click.option("--env", "env", help="An environment from mlci.yaml: its current version and promotion history.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: the index entries, newest first.")
@click.pass_context
@secrets.redacted_errors
def command(ctx: click.Context, project: str, store_name: str | None, env: str | None, as_json: bool) -> None:
    """List PROJECT's model versions in a store, newest first (--env: an environment's promotions)."""
    check_project(project)  # it names a directory (or key prefix) in the store
    root = repo_root(ctx)
    manifest = load_manifest(root)
    remember_secrets(root, manifest, project)
    if env is not None:
        promotions = history(root, manifest, project, env)
        _environment(promotions, itests(root, manifest, project, env), project, env, as_json)
        return
    name = store_name_for(root, manifest, project, store_name)
    entries = newest_first(open_store(manifest, name, root).versions(project))
    if as_json:
        click.echo(json.dumps([e.to_json() for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"no versions of {project} in store '{name}' — publish one with `mlci publish {project}`")
        return
    click.echo(f"{'VERSION':<8} {'JOB':<24} {'PUBLISHED':<17} {'COMMIT':<12} {'GATE':<26} {'APPROVED BY':<12} URL")
    for entry in entries:
        click.echo(secrets.redact(_line(entry)))


def _line(entry: VersionEntry) -> str:
    gate = entry.gate
    if gate is None:
        verdict = "-"
    elif gate.metric:
        value = f"{gate.value:.6g}" if gate.value is not None else "?"
        verdict = f"{'pass' if gate.passed else 'FAIL'} {gate.metric}={value}"
    else:
        verdict = "pass (no gate)" if gate.passed else "FAIL"
    return (
        f"{entry.version:<8} {entry.job_id[:24]:<24} {entry.published_at[:16].replace('T', ' '):<17} "
        f"{(entry.commit or '-')[:12]:<12} {verdict[:26]:<26} {(entry.approved_by or '-')[:12]:<12} {entry.url}"
    )


def _environment(
    promotions: list[Promotion], verdicts: list[ItestVerdict], project: str, env: str, as_json: bool
) -> None:
    current = promotions[0].version if promotions else None
    if as_json:
        rows = [p.to_json() for p in promotions]
        tests = [v.to_json() for v in verdicts]
        out = {"env": env, "project": project, "current": current, "history": rows, "itests": tests}
        click.echo(secrets.redact(json.dumps(out, indent=2)))
        return
    if not promotions:
        click.echo(f"nothing of {project} promoted to {env} — promote with `mlci promote {project} VERSION --to {env}`")
        return
    tested = next((v for v in verdicts if v.version == current), None)
    verdict = f"; itest {'passed' if tested.passed else 'FAILED'}" if tested else ""
    head = promotions[0]
    click.echo(f"{project} in {env}: {current} (job {head.job_id}, promoted by {head.by}{verdict})")
    click.echo(f"{'PROMOTED':<17} {'VERSION':<8} {'REPLACED':<9} {'BY':<16} {'JOB':<24} URL")
    for p in promotions:
        when = p.at[:16].replace("T", " ")
        line = f"{when:<17} {p.version:<8} {p.previous or '-':<9} {p.by[:16]:<16} {p.job_id[:24]:<24} {p.url}"
        click.echo(secrets.redact(line))
    if verdicts:
        click.echo("")
        click.echo(f"{'TESTED':<17} {'VERSION':<8} {'ITEST':<9} {'BY':<16} {'JOB':<24} DETAIL")
        for v in verdicts:
            when = v.at[:16].replace("T", " ")
            first = next((text for text in v.detail.splitlines() if text.strip()), "-")[:80]
            line = f"{when:<17} {v.version:<8} {'pass' if v.passed else 'FAIL':<9} {v.by[:16]:<16} {(v.job or '-')[:24]:<24} {first}"
            click.echo(secrets.redact(line))
