"""Helpers for the model-version tests: a repository whose default store is local or S3, and a
publisher that runs in its own process (spawned, so it shares nothing with the test but the store)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from mlci.manifest import load_manifest
from mlci.publish.publishing import publish_run
from mlci.record.store import RunRecord

BUCKET = "mlci-versions"


def write_manifest(root: Path, endpoint: str | None = None) -> None:
    stores = "    shelf: {type: local, path: shelf}\n"
    if endpoint:
        stores += (
            f"    s3: {{type: s3, bucket: {BUCKET}, prefix: team, endpoint_url: '{endpoint}', region: us-east-1,"
            " access_key_id: MLCI_TEST_S3_KEY, secret_access_key: MLCI_TEST_S3_SECRET}\n"
        )
    default = "s3" if endpoint else "shelf"
    (root / "mlci.yaml").write_text(f"version: 1\nname: t\nartifacts:\n  default: {default}\n  stores:\n{stores}")


def publish_each(root: str, dirs: list[str], start) -> list[str]:
    """Publish every record in `dirs` in turn, once every publisher is ready; the versions they got."""
    start.wait(120)
    manifest = load_manifest(Path(root))
    return [publish_run(Path(root), manifest, RunRecord.load(Path(d))).version or "" for d in dirs]


def publish_concurrently(root: Path, records: list[RunRecord], publishers: int) -> list[str]:
    """`publishers` spawned processes publish their share of `records` at the same time."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(publishers)
        shares = [[str(r.dir) for r in records[i::publishers]] for i in range(publishers)]
        with context.Pool(publishers) as pool:
            pending = [pool.apply_async(publish_each, (str(root), share, start)) for share in shares]
            return [version for result in pending for version in result.get(timeout=240)]
