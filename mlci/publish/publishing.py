"""The one publishing path: `mlci run` (to a local default store) and `mlci publish` (to any
store) both come here, so both record the same publication — store, URL, content digest, config
hash and, in a store that keeps versions, the model version — and `notify`'s "previous published
run" sees either."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlci.errors import MlciError
from mlci.manifest.loader import PROJECT_FILE, PROJECTS_DIR, load_project
from mlci.manifest.schema import Manifest
from mlci.publish.stores import open_store
from mlci.publish.stores.base import content_digest, content_entries
from mlci.publish.versions import entry_for
from mlci.record.model import Publication, RunStatus
from mlci.record.store import RunRecord


def outputs_of(record: RunRecord) -> Path:
    """The passing attempt's output directory, which must lie inside the record."""
    relative = record.state.run.output_dir
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


def refuse_unless_passed(record: RunRecord) -> None:
    """Only a run whose gate passed is published; the error says why this one did not."""
    status = record.status
    if record.state.experiment is not None:
        raise MlciError(
            f"refusing to publish {record.project} run {record.job_id}: it is experiment "
            f"'{record.state.experiment.name}', and experiments are never published",
            hint="merge the change and let the release publish it, or run it again without --experiment",
        )
    if status == RunStatus.SUCCEEDED:
        return
    gate = record.state.gate
    if gate is not None and gate.metric:  # gate-less projects record metric None, reason "no gate"
        why = f" (gate {gate.metric} {gate.op} {gate.threshold}: {gate.value}; attempt {gate.attempt})"
    else:
        why = f" ({record.state.error})" if record.state.error else ""
    raise MlciError(
        f"refusing to publish {record.project} run {record.job_id}: its status is {status.value}{why}",
        hint="only runs whose evaluation gate passed (status Succeeded) are published",
    )


def publish(
    root: Path, manifest: Manifest, record: RunRecord, store_name: str, *, approved_by: str | None = None
) -> Publication:
    """Publish the passing attempt's outputs to `store_name` and record the publication; a store
    that keeps versions adds it to its version index last, and the record notes the version."""
    outputs = outputs_of(record)
    store = open_store(manifest, store_name, root)
    if store.supports_versions:  # refuse a store that cannot version, or a bad index, before uploading
        store.prepare_versions(record.project)
        store.versions(record.project)
    url = store.publish(record, outputs)
    digest = "sha256:" + content_digest(content_entries(outputs, store.max_output_bytes))
    publication = record.state.published(
        store_name, url, digest=digest, config_hash=record.state.config_hash or config_hash(root, record.project)
    )
    if store.supports_versions:
        entry = store.claim_version(record, url, lambda version: entry_for(record, publication, approved_by, version))
        record.state.versioned(entry.version)
    record.save()
    assert record.state.publish is not None
    return record.state.publish


def publish_run(
    root: Path,
    manifest: Manifest,
    record: RunRecord,
    store_name: str | None = None,
    *,
    approved_by: str | None = None,
) -> Publication:
    """`mlci publish`: a finished run whose gate passed, to --store or the project's store."""
    refuse_unless_passed(record)
    store = store_name_for(root, manifest, record.project, store_name)
    return publish(root, manifest, record, store, approved_by=approved_by)
