"""Promotion to and from S3 stores (moto in server mode, serving one request at a time — S3's own
atomicity for conditional writes, see conftest): S3→S3, S3→local and local→S3; the promoted copy,
its manifest, `current.json` and the promotion log; rollbacks reusing a checked copy; what is refused
(a corrupt or newer log, a changed source or copy, a hostile manifest, a server that ignores
conditional writes, a Hugging Face Hub store) — never written over."""

from __future__ import annotations

import json

import pytest

from mlci.cli import main
from mlci.manifest import load_manifest
from mlci.publish.promotion import record_itest
from mlci.publish.promotion_gate import itest_verdict
from mlci.publish.promotion_log import Promotion
from mlci.publish.stores.s3 import S3Store
from mlci.publish.stores.s3_conditional import ConditionalWritesUnsupported
from tests.stores.promotion_support import (
    BUCKET,
    publish_versions,
    s3_json,
    s3_keys,
    write_manifest,
)

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

QA = "team/digits/envs/qa/"


@pytest.fixture
def repo(s3_repo, make_run, monkeypatch):
    """v1 and v2 of digits published to s3 (the default store)."""
    monkeypatch.setenv("MLCI_USER", "carol")
    monkeypatch.delenv("MLCI_PROMOTE_APPROVED", raising=False)
    publish_versions(s3_repo, make_run, 2)
    return s3_repo


def mlci(repo, *args: str) -> int:
    return main(["--root", str(repo), *args])


def env_json(repo, capsys, env: str) -> dict:
    capsys.readouterr()
    assert mlci(repo, "versions", "digits", "--env", env, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_s3_to_s3_promote_roll_back_and_forward(repo, client, capsys):
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    assert f"✓ promoted digits v2 to qa: s3://{BUCKET}/{QA}v2/" in capsys.readouterr().out
    keys = s3_keys(client, QA)
    assert keys[QA + "v2/model.bin"] == b"weights-2" and keys[QA + "v2/meta/info.txt"] == b"n=2"
    manifest = json.loads(keys[QA + "v2/_mlci.json"])
    assert (manifest["version"], manifest["jobId"]) == ("v2", "job-2")
    assert sorted(f["path"] for f in manifest["files"]) == ["meta/info.txt", "model.bin"]
    assert all(f["etag"].startswith('"') for f in manifest["files"])
    pointer = json.loads(keys[QA + "current.json"])
    assert (pointer["version"], pointer["promotion"], pointer["url"]) == ("v2", 1, f"s3://{BUCKET}/{QA}v2/")

    assert mlci(repo, "promote", "digits", "v1", "--to", "qa", "--by", "dave") == 0  # rollback
    assert "replacing v2" in capsys.readouterr().out
    v2_manifest = client.head_object(Bucket=BUCKET, Key=QA + "v2/_mlci.json")["LastModified"]
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0  # forward: v2's checked copy is reused
    assert client.head_object(Bucket=BUCKET, Key=QA + "v2/_mlci.json")["LastModified"] == v2_manifest
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    assert "is current in qa already" in capsys.readouterr().out

    got = env_json(repo, capsys, "qa")
    assert got["current"] == "v2"
    assert [(p["version"], p["previous"], p["by"]) for p in got["history"]] == [
        ("v2", "v1", "carol"),
        ("v1", "v2", "dave"),
        ("v2", None, "carol"),
    ]
    assert all(p["sourceStore"] == "s3" and p["digest"].startswith("sha256:") for p in got["history"])
    log = s3_json(client, "team/digits/promotions.json")
    assert log["schemaVersion"] == 1 and [p["version"] for p in log["promotions"]] == ["v2", "v1", "v2"]
    assert s3_json(client, QA + "current.json")["promotion"] == 3
    assert "s3-secret-value-never-printed" not in capsys.readouterr().err


def test_s3_to_local_and_local_to_s3(repo, client, capsys):
    assert mlci(repo, "promote", "digits", "v1", "--to", "prod") == 0  # s3 → vault (local)
    prod = repo / "vault" / "digits" / "envs" / "prod"
    assert (prod / "current").resolve() == (prod / "v1").resolve()
    assert (prod / "v1" / "model.bin").read_bytes() == b"weights-1"
    assert (prod / "v1" / "meta" / "info.txt").read_bytes() == b"n=1"
    assert env_json(repo, capsys, "prod")["history"][0]["sourceStore"] == "s3"

    assert mlci(repo, "publish", "digits", "job-2", "--store", "shelf") == 0  # shelf's v1 is job-2
    assert mlci(repo, "promote", "digits", "v1", "--to", "edge", "--store", "shelf") == 0  # shelf → s3b
    edge = s3_keys(client, "edge/digits/")
    assert edge["edge/digits/envs/edge/v1/model.bin"] == b"weights-2"
    assert json.loads(edge["edge/digits/envs/edge/current.json"])["version"] == "v1"
    assert env_json(repo, capsys, "edge")["history"][0]["sourceStore"] == "shelf"
    assert not any(k.startswith("team/digits/envs/") for k in s3_keys(client))  # qa was not touched


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"schemaVersion": 1, "project": "digits", "promotions": [', "is not valid JSON"),
        (b'{"schemaVersion": 2, "project": "digits", "promotions": []}', "written by a newer mlci"),
        (b'{"schemaVersion": 1, "project": "digits", "promotions": [{"env": "qa"}]}', "[0]: project: Field required"),
    ],
)
def test_a_corrupt_or_newer_s3_log_is_reported_and_never_overwritten(repo, client, capsys, content, message):
    client.put_object(Bucket=BUCKET, Key="team/digits/promotions.json", Body=content)
    capsys.readouterr()
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 1
    assert message in capsys.readouterr().err
    assert mlci(repo, "versions", "digits", "--env", "qa") == 1
    assert message in capsys.readouterr().err
    assert client.get_object(Bucket=BUCKET, Key="team/digits/promotions.json")["Body"].read() == content
    assert not any(k.startswith(QA) for k in s3_keys(client))  # refused before anything was copied


def test_a_pointer_mlci_did_not_write_is_reported_before_anything_is_copied(repo, client, capsys):
    client.put_object(Bucket=BUCKET, Key=QA + "current.json", Body=b'{"schemaVersion": 1, "env": "prod"}')
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 1
    assert "current pointer" in capsys.readouterr().err
    assert sorted(s3_keys(client, QA)) == [QA + "current.json"]


def test_a_changed_source_object_is_not_promoted(repo, client, capsys):
    client.put_object(Bucket=BUCKET, Key="team/digits/job-2/model.bin", Body=b"weights-X")  # same size
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 1
    assert "team/digits/job-2/model.bin is not what was published" in capsys.readouterr().err
    assert not any(k.startswith(QA) or k.endswith("promotions.json") for k in s3_keys(client))


def test_a_changed_promoted_copy_is_not_reused(repo, client, capsys):
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    assert mlci(repo, "promote", "digits", "v1", "--to", "qa") == 0
    client.put_object(Bucket=BUCKET, Key=QA + "v2/model.bin", Body=b"tampered")
    capsys.readouterr()
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 1
    err = capsys.readouterr().err
    assert "is not what was promoted (changed: model.bin)" in err and "remove that copy" in err
    assert s3_json(client, QA + "current.json")["version"] == "v1"
    assert len(s3_json(client, "team/digits/promotions.json")["promotions"]) == 2


@pytest.mark.parametrize(
    "files, message",
    [
        ([{"path": "../../etc/x", "size": 1, "sha256": "0" * 64}], "is not a plain relative path"),
        ([{"path": "/abs", "size": 1, "sha256": "0" * 64}], "is not a plain relative path"),
        ([{"path": "a", "size": -1, "sha256": "0" * 64}], "is not a byte count"),
        ([{"path": "a", "size": 10**15, "sha256": "0" * 64}], "more than runner.max_output_size"),
        ([{"path": "a", "size": 1, "sha256": "0" * 64}, {"path": "a/b", "size": 1, "sha256": "0" * 64}], "same name"),
    ],
)
def test_a_hostile_source_manifest_is_refused(repo, client, capsys, files, message):
    key = "team/digits/job-2/_mlci.json"
    client.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"files": files}).encode())
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod") == 1
    assert message in capsys.readouterr().err
    assert not (repo / "vault" / "digits" / "envs" / "prod" / "v2").exists()
    assert not (repo / "etc").exists() and not (repo.parent / "etc" / "x").exists()


class IgnoresConditions:
    """A client for a server that ignores If-Match and If-None-Match: every PUT overwrites."""

    def __init__(self, client):
        self._client = client

    def put_object(self, **kwargs):
        kwargs.pop("IfNoneMatch", None)
        kwargs.pop("IfMatch", None)
        return self._client.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_server_that_ignores_conditional_writes_is_refused(repo, client):
    store = S3Store("s3", IgnoresConditions(client), BUCKET, "team")
    entry = store.versions("digits")[1]
    with pytest.raises(ConditionalWritesUnsupported, match="does not honour If-Match and If-None-Match"):
        store.promotions("digits").promote("qa", entry, lambda dest: None, None)
    assert not any(k.startswith(QA) or k.endswith("promotions.json") for k in s3_keys(client))


class LosesTheFirstLogReply:
    """The first PUT of the promotion log reaches the server, but its reply is lost (a 503)."""

    def __init__(self, client):
        self._client, self.lost = client, 0

    def put_object(self, **kwargs):
        reply = self._client.put_object(**kwargs)
        if kwargs["Key"].endswith("promotions.json") and not self.lost:
            from botocore.exceptions import ClientError

            self.lost += 1
            raise ClientError({"Error": {"Code": "503"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
        return reply

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_log_write_whose_reply_was_lost_is_not_appended_twice(repo, client):
    flaky = LosesTheFirstLogReply(client)
    store = S3Store("s3", flaky, BUCKET, "team", sleep=lambda s: None)
    entry = store.versions("digits")[1]

    def make(previous, url):
        return Promotion(
            env="qa",
            project="digits",
            version="v2",
            previous=previous,
            job_id="job-2",
            source_store="s3",
            by="carol",
            at="2026-01-01T00:00:00.000Z",
            url=url,
        )

    promotions = store.promotions("digits")
    promotion, recorded = promotions.promote("qa", entry, lambda dest: store.fetch_version(entry, dest), make)
    assert recorded and flaky.lost == 1 and promotion.previous is None
    log = s3_json(client, "team/digits/promotions.json")
    assert [p["version"] for p in log["promotions"]] == ["v2"]
    assert s3_json(client, QA + "current.json")["promotion"] == 1


class AnotherPromoterFirst:
    """Just before our first PUT of a key ending in `suffix`, another promoter promotes v1 to qa
    completely — between our read and our compare-and-swap."""

    def __init__(self, client, suffix: str, other):
        self._client, self.suffix, self.other, self.done = client, suffix, other, False

    def put_object(self, **kwargs):
        if kwargs["Key"].endswith(self.suffix) and not self.done:
            self.done = True
            self.other()
        return self._client.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def make_promotion(version: str, job: str, by: str):
    def make(previous, url):
        return Promotion(
            env="qa", project="digits", version=version, previous=previous, job_id=job,
            source_store="s3", by=by, at="2026-01-01T00:00:00.000Z", url=url,
        )  # fmt: skip

    return make


@pytest.mark.parametrize("suffix", ["promotions.json", "current.json"])
def test_a_promoter_that_loses_the_race_reads_again_and_chains_after_the_winner(repo, client, suffix):
    plain = S3Store("s3", client, BUCKET, "team")
    v1, v2 = plain.versions("digits")

    def other() -> None:
        fill = lambda dest: plain.fetch_version(v1, dest)  # noqa: E731
        plain.promotions("digits").promote("qa", v1, fill, make_promotion("v1", "job-1", "erin"))

    ours = S3Store("s3", AnotherPromoterFirst(client, suffix, other), BUCKET, "team")
    ours.promotions("digits").promote(
        "qa", v2, lambda dest: ours.fetch_version(v2, dest), make_promotion("v2", "job-2", "carol")
    )
    log = s3_json(client, "team/digits/promotions.json")["promotions"]
    pointer = s3_json(client, QA + "current.json")
    if suffix == "promotions.json":  # the other promoter's entry came first: ours replaces it
        assert [(p["version"], p["previous"], p["by"]) for p in log] == [("v1", None, "erin"), ("v2", "v1", "carol")]
    else:  # ours was logged first; the other's, logged later, stays current: the pointer never goes back
        assert [(p["version"], p["previous"], p["by"]) for p in log] == [("v2", None, "carol"), ("v1", "v2", "erin")]
    assert (pointer["version"], pointer["promotion"]) == (log[-1]["version"], 2)


def test_itest_verdicts_in_s3_gate_a_later_environment(repo, client, serial_endpoint, capsys):
    write_manifest(repo, serial_endpoint, default="s3", extra_envs="  live: {store: vault, after: qa}\n")
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    capsys.readouterr()
    assert mlci(repo, "promote", "digits", "v2", "--to", "live") == 2
    assert "v2 has no verdict in qa yet" in capsys.readouterr().err

    record_itest(repo, load_manifest(repo), "digits", "qa", "v2", passed=True, by="ci", job="itest-1", detail="ok")
    assert mlci(repo, "promote", "digits", "v2", "--to", "live") == 0
    log = s3_json(client, "team/digits/itests.json")
    assert [(v["version"], v["passed"], v["job"]) for v in log["itests"]] == [("v2", True, "itest-1")]
    assert env_json(repo, capsys, "qa")["itests"][0]["detail"] == "ok"


def test_a_verdict_recorded_meanwhile_is_kept(repo, client):
    plain = S3Store("s3", client, BUCKET, "team")
    v2 = plain.versions("digits")[1]
    plain.promotions("digits").promote(
        "qa", v2, lambda dest: plain.fetch_version(v2, dest), make_promotion("v2", "job-2", "carol")
    )

    def other() -> None:
        verdict = itest_verdict("qa", "digits", "v2", passed=False, by="erin", job=None, detail="", at="t0")
        plain.promotions("digits").record_itest(verdict)

    ours = S3Store("s3", AnotherPromoterFirst(client, "itests.json", other), BUCKET, "team")
    ours.promotions("digits").record_itest(
        itest_verdict("qa", "digits", "v2", passed=True, by="carol", job="j-1", detail="", at="t1")
    )
    log = s3_json(client, "team/digits/itests.json")["itests"]
    assert [(v["by"], v["passed"]) for v in log] == [("erin", False), ("carol", True)]


def test_a_huggingface_store_is_refused_as_target_and_as_source(tmp_path, make_run, capsys, monkeypatch):
    from tests.stores.fake_hub import FakeHub

    monkeypatch.setenv("MLCI_USER", "carol")
    with FakeHub() as hub:
        (tmp_path / "mlci.yaml").write_text(
            "version: 1\nname: t\nartifacts:\n  default: shelf\n  stores:\n"
            "    shelf: {type: local, path: shelf}\n"
            f"    hub: {{type: huggingface, repo: acme/models, endpoint: '{hub.endpoint}'}}\n"
            "environments:\n  prod: {store: hub}\n  qa: {store: shelf}\n"
        )
        publish_versions(tmp_path, make_run, 1)
        assert mlci(tmp_path, "promote", "digits", "v1", "--to", "prod") == 2
        err = capsys.readouterr().err
        assert "store 'hub' (huggingface) cannot hold an environment's promotions" in err
        assert "point the environment's store at a local or s3 store" in err
        assert mlci(tmp_path, "versions", "digits", "--env", "prod") == 2
        assert mlci(tmp_path, "promote", "digits", "v1", "--to", "qa", "--store", "hub") == 2
        assert "store 'hub' (HubStore) keeps no model versions" in capsys.readouterr().err
        assert hub.state.requests == []  # refused before the Hub was asked anything
    assert not (tmp_path / "shelf" / "digits" / "envs").exists()
