"""Model versions in an S3 store (moto in server mode): one object per version, created with
`If-None-Match: *`, so concurrent publishers never lose or duplicate one; a hostile entry is refused
and left as it is; a server that ignores the condition is refused."""

from __future__ import annotations

import json

import pytest

from mlci.cli import main
from mlci.publish.stores.s3 import S3Store, make_client
from mlci.publish.versions import VersionsUnsupported
from mlci.record.store import RunRecord
from tests.stores.versions_support import BUCKET, publish_concurrently, write_manifest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

PREFIX = "team/digits/versions/"


@pytest.fixture
def repo(tmp_path, serial_endpoint, monkeypatch):
    monkeypatch.setenv("MLCI_TEST_S3_KEY", "AKIAMLCITESTKEY0001")
    monkeypatch.setenv("MLCI_TEST_S3_SECRET", "s3-secret-value-never-printed")
    write_manifest(tmp_path, serial_endpoint)
    return tmp_path


@pytest.fixture
def client(serial_endpoint):
    s3 = make_client(
        endpoint_url=serial_endpoint, region="us-east-1", access_key_id="testkey", secret_access_key="testsecret"
    )
    s3.create_bucket(Bucket=BUCKET)
    yield s3
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def entries(client) -> dict[str, dict]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return {
        item["Key"][len(PREFIX) :]: json.loads(client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
        for item in listed
    }


def test_two_publications_are_v1_and_v2(repo, client, make_run, capsys):
    first, second = make_run(root=repo, job="job-a"), make_run(root=repo, job="job-b")
    assert main(["--root", str(repo), "publish", "digits", "job-a"]) == 0
    assert main(["--root", str(repo), "publish", "digits", "job-b", "--approved-by", "bob"]) == 0
    assert main(["--root", str(repo), "publish", "digits", "job-a"]) == 0  # a re-publish keeps v1
    assert "run job-a as v1: s3://" in capsys.readouterr().out

    found = entries(client)
    assert sorted(found) == ["v1.json", "v2.json"]
    assert found["v1.json"]["jobId"] == "job-a" and found["v2.json"]["jobId"] == "job-b"
    assert found["v2.json"]["schemaVersion"] == 1 and found["v2.json"]["approvedBy"] == "bob"
    assert found["v2.json"]["url"] == f"s3://{BUCKET}/team/digits/job-b/"
    assert RunRecord.load(first.dir).state.publish.version == "v1"
    assert RunRecord.load(second.dir).state.publish.version == "v2"

    assert main(["--root", str(repo), "versions", "digits", "--json"]) == 0
    assert [(v["version"], v["jobId"]) for v in json.loads(capsys.readouterr().out)] == [
        ("v2", "job-b"),
        ("v1", "job-a"),
    ]


def test_two_concurrent_publishers_make_exactly_v1_to_v20(repo, client, make_run):
    records = [make_run(root=repo, job=f"job-{n:02d}", files={"model.bin": b"w%d" % n}) for n in range(20)]
    got = publish_concurrently(repo, records, publishers=2)

    expected = [f"v{n}" for n in range(1, 21)]
    assert sorted(got, key=lambda v: int(v[1:])) == expected
    found = entries(client)
    assert sorted(found, key=lambda k: int(k[1:-5])) == [f"{v}.json" for v in expected]
    assert sorted(e["jobId"] for e in found.values()) == [r.job_id for r in records]
    for record in records:
        version = RunRecord.load(record.dir).state.publish.version
        assert found[f"{version}.json"]["jobId"] == record.job_id


@pytest.mark.parametrize(
    "key, content, message",
    [
        ("v1.json", b"{not json", "is not valid JSON"),
        ("v1.json", b'{"schemaVersion": 9, "version": "v1"}', "written by a newer mlci (schema 9"),
        ("v01.json", b"{}", "which is no version entry"),
        ("v2.json", b'{"schemaVersion": 1}', "version: Field required"),
    ],
)
def test_a_corrupt_or_newer_entry_is_refused_and_left_byte_identical(
    repo, client, make_run, capsys, key, content, message
):
    record = make_run(root=repo, job="job-a")
    client.put_object(Bucket=BUCKET, Key=PREFIX + key, Body=content)

    assert main(["--root", str(repo), "publish", "digits", "job-a"]) == 1
    assert message in capsys.readouterr().err
    assert main(["--root", str(repo), "versions", "digits"]) == 1
    assert message in capsys.readouterr().err
    assert client.get_object(Bucket=BUCKET, Key=PREFIX + key)["Body"].read() == content
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    assert [item["Key"] for item in listed] == [PREFIX + key]
    assert RunRecord.load(record.dir).state.publish is None


class IgnoresConditions:
    """A client for a server that ignores If-None-Match: every PUT overwrites."""

    def __init__(self, client):
        self._client = client

    def put_object(self, **kwargs):
        kwargs.pop("IfNoneMatch", None)
        return self._client.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_server_that_ignores_conditional_writes_is_refused(client):
    store = S3Store("s3", IgnoresConditions(client), BUCKET, "team")
    with pytest.raises(VersionsUnsupported, match="does not honour If-None-Match"):
        store.prepare_versions("digits")
    S3Store("s3", client, BUCKET, "team").prepare_versions("digits")  # moto honours it
