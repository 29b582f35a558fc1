"""`mlci publish PROJECT [JOB] [--store NAME]`: publish a run whose gate passed to an artifact store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from mlci import secrets
from mlci.commands._common import remember_secrets, repo_root
from mlci.errors import MlciError, UsageError
from mlci.manifest import load_manifest
from mlci.manifest.loader import PROJECT_FILE, PROJECTS_DIR, load_project
from mlci.manifest.schema import Manifest
from mlci.publish.stores import open_store
from mlci.record.store import SUCCEEDED, RunRecord, find_record, now


def outputs_of(record: RunRecord) -> Path:
    """The passing attempt's output directory, which must lie inside the record."""
    relative = (record.data.get("run") or {}).get("outputDir")
    if not relative:
        raise MlciError(f"run {record.job_id} of {record.project} records no output directory (run.outputDir)")
    outputs = (record.dir / relative).resolve()
    if not outputs.is_relative_to(record.dir.resolve()) or not outputs.is_dir():
        raise MlciError(f"run {record.job_id} of {record.project}: outputs {relative} are missing from {record.dir}")
    return outputs


def config_hash(root: Path, project: str) -> str | None:
    path = root / PROJECTS_DIR / project / "config.yaml"
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def store_name_for(root: Path, manifest: Manifest, project: str, requested: str | None) -> str:
    """--store, else the project's publish.store, else artifacts.default."""
    if requested:
        return requested
    if (root / PROJECTS_DIR / project / PROJECT_FILE).is_file():
        configured = load_project(root, project).config.publish.store
        if configured:
            return configured
    return manifest.artifacts.default


def publish_run(root: Path, manifest: Manifest, record: RunRecord, store_name: str | None = None) -> str:
    """Publish `record`'s outputs (gate passed only) and write the URL into its status.json."""
    status = record.status
    if status != SUCCEEDED:
        gate = record.data.get("gate") or {}
        if gate.get("metric"):  # gate-less projects record {"metric": None, "reason": "no gate"}
            verdict = f"{gate['metric']} {gate.get('op')} {gate.get('threshold')}: {gate.get('value')}"
            why = f" (gate {verdict}; attempt {gate.get('attempt')})"
        else:
            why = f" ({record.data['error']})" if record.data.get("error") else ""
        raise MlciError(
            f"refusing to publish {record.project} run {record.job_id}: its status is {status}{why}",
            hint="only runs whose evaluation gate passed (status Succeeded) are published",
        )
    outputs = outputs_of(record)
    name = store_name_for(root, manifest, record.project, store_name)
    store = open_store(manifest, name, root)
    if not record.data.get("configHash"):
        record.data["configHash"] = config_hash(root, record.project)
    url = store.publish(record, outputs)
    record.data["publish"] = secrets.redact_data({"store": name, "url": url, "publishedAt": now()})
    record.data.setdefault("run", {})["artifactUrl"] = record.data["publish"]["url"]
    record.save()
    return url


@click.command("publish")
@click.argument("project")
@click.argument("job", required=False)
@click.option("--store", "store_name", help="Store name from mlci.yaml artifacts.stores (default: the project's).")
@click.option("--push", is_flag=True, help="Also push the run's image to build.registry and record its digest.")
@click.pass_context
@secrets.redacted_errors
def command(ctx: click.Context, project: str, job: str | None, store_name: str | None, push: bool) -> None:
    """Publish a run whose evaluation gate passed (default: the latest run of PROJECT)."""
    root = repo_root(ctx)
    manifest = load_manifest(root)
    remember_secrets(root, manifest, project)
    record = find_record(root, project, job)
    if push:
        if record.status != SUCCEEDED:
            raise UsageError(f"refusing to push {project} run {record.job_id}: its status is {record.status}")
        from mlci.commands.push import push_record

        push_record(manifest, record)
    url = publish_run(root, manifest, record, store_name)
    click.echo(secrets.redact(f"✓ published {project} run {record.job_id}: {url}"))
