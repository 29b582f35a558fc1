"""Helpers for the promotion tests: a repository with local and S3 stores and environments in both,
published versions, S3 bucket listing, and promoters that run in their own processes (spawned, so
they share nothing with the test but the stores)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from mlci.cli import main
from mlci.manifest import load_manifest
from mlci.publish.promotion import promote
from mlci.publish.stores.s3 import make_client

BUCKET = "mlci-promotions"


def write_manifest(root: Path, endpoint: str | None = None, *, default: str = "shelf", extra_envs: str = "") -> None:
    """Stores shelf and vault (local), s3 and s3b (prefixes team and edge of one bucket, with an
    endpoint); environments qa (s3, or shelf without S3), prod (vault), edge (s3b)."""
    stores = "    shelf: {type: local, path: shelf}\n    vault: {type: local, path: vault}\n"
    envs = "  prod: {store: vault}\n"
    if endpoint:
        for name, prefix in (("s3", "team"), ("s3b", "edge")):
            stores += (
                f"    {name}: {{type: s3, bucket: {BUCKET}, prefix: {prefix}, endpoint_url: '{endpoint}',"
                " region: us-east-1, access_key_id: MLCI_TEST_S3_KEY, secret_access_key: MLCI_TEST_S3_SECRET}\n"
            )
        envs += "  qa: {store: s3}\n  edge: {store: s3b}\n"
    else:
        envs += "  qa: {store: shelf}\n"
    (root / "mlci.yaml").write_text(
        f"version: 1\nname: t\nartifacts:\n  default: {default}\n  stores:\n{stores}environments:\n{envs}{extra_envs}"
    )


def publish_versions(root: Path, make_run, count: int, *, store: str | None = None) -> None:
    """v1..v<count> of digits (jobs job-1.., model.bin = b'weights-<n>') in `store`."""
    for n in range(1, count + 1):
        make_run(root=root, job=f"job-{n}", files={"model.bin": b"weights-%d" % n, "meta/info.txt": b"n=%d" % n})
        extra = ["--store", store] if store else []
        assert main(["--root", str(root), "publish", "digits", f"job-{n}", *extra]) == 0


def emptied_bucket(endpoint: str):
    """A client with the test bucket created, for a fixture to yield; moto's state is one per process
    (shared by every module's server), so the caller empties and removes the bucket afterwards."""
    client = make_client(endpoint_url=endpoint, region="us-east-1", access_key_id="testkey", secret_access_key="x")
    client.create_bucket(Bucket=BUCKET)
    return client


def remove_bucket(client) -> None:
    for key in s3_keys(client):
        client.delete_object(Bucket=BUCKET, Key=key)
    client.delete_bucket(Bucket=BUCKET)


def s3_keys(client, prefix: str = "") -> dict[str, bytes]:
    """Every object under `prefix` of the test bucket: {key: content}."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return found


def s3_json(client, key: str) -> dict:
    return json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def promote_each(root: str, versions: list[str], env: str, by: str, start) -> list[tuple[str, bool]]:
    """Promote `versions` to `env` in turn, once every promoter is ready: (version, recorded) each."""
    start.wait(120)
    manifest = load_manifest(Path(root))
    done = []
    for version in versions:
        promotion, recorded = promote(Path(root), manifest, "digits", version, env, by=by)
        done.append((promotion.version, recorded))
    return done


def promote_concurrently(root: Path, shares: list[list[str]], env: str) -> list[list[tuple[str, bool]]]:
    """One spawned process per share promotes its versions to `env`, all at the same time."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(len(shares))
        with context.Pool(len(shares)) as pool:
            pending = [
                pool.apply_async(promote_each, (str(root), share, env, f"promoter-{i}", start))
                for i, share in enumerate(shares)
            ]
            return [result.get(timeout=240) for result in pending]
