"""Two promoters — real processes, started together behind a barrier — promote different versions
to the same environment at once, in a local store (flock) and in S3 (moto; conditional writes):
every promotion is in the log exactly once, each promoter's in the order it made them, every
`previous` names the entry before, and what is current is the last entry."""

from __future__ import annotations

import json

from mlci.publish.promotion_log import in_env, parse_log
from tests.stores.promotion_support import (
    BUCKET,
    promote_concurrently,
    publish_versions,
    s3_json,
    write_manifest,
)

SHARES = [["v1", "v3", "v5", "v7"], ["v2", "v4", "v6", "v8"]]


def check_log(entries: list[dict], env: str) -> None:
    """The log of `env` holds every promotion once, in a consistent order, chained by `previous`."""
    promotions = [e for e in entries if e["env"] == env]
    versions = [p["version"] for p in promotions]
    assert sorted(versions, key=lambda v: int(v[1:])) == [f"v{n}" for n in range(1, 9)]
    for share in SHARES:  # each promoter's own promotions in the order it made them
        assert [v for v in versions if v in share] == share
    assert [p["previous"] for p in promotions] == [None, *versions[:-1]]
    assert {p["by"] for p in promotions if p["version"] in SHARES[0]} == {"promoter-0"}


def test_two_processes_promote_to_one_local_environment(tmp_path, make_run, monkeypatch):
    monkeypatch.setenv("MLCI_USER", "carol")
    write_manifest(tmp_path)
    publish_versions(tmp_path, make_run, 8)

    done = promote_concurrently(tmp_path, SHARES, "prod")

    assert done == [[(v, True) for v in share] for share in SHARES]
    log = json.loads((tmp_path / "vault" / "digits" / "promotions.json").read_text())
    check_log(log["promotions"], "prod")
    last = parse_log(log, "digits", "log")[-1]
    prod = tmp_path / "vault" / "digits" / "envs" / "prod"
    assert (prod / "current").resolve() == (prod / last.version).resolve()
    for n in range(1, 9):
        assert (prod / f"v{n}" / "model.bin").read_bytes() == b"weights-%d" % n
    assert [p.name for p in prod.iterdir() if p.name.startswith(".")] == []  # no staging or pointer left over


def test_two_processes_promote_to_one_s3_environment(s3_repo, client, make_run):
    publish_versions(s3_repo, make_run, 8)  # the spawned promoters inherit s3_repo's credentials

    done = promote_concurrently(s3_repo, SHARES, "qa")

    assert done == [[(v, True) for v in share] for share in SHARES]
    log = s3_json(client, "team/digits/promotions.json")
    check_log(log["promotions"], "qa")
    entries = parse_log(log, "digits", "log")
    pointer = s3_json(client, "team/digits/envs/qa/current.json")
    assert (pointer["version"], pointer["promotion"]) == (in_env(entries, "qa")[0].version, len(entries))
    body = client.get_object(Bucket=BUCKET, Key=f"team/digits/envs/qa/{pointer['version']}/model.bin")["Body"]
    assert body.read() == b"weights-%d" % int(pointer["version"][1:])
