"""The S3 store against an S3-compatible server on 127.0.0.1.

No real S3 server (MinIO, Ceph) can be installed on this machine, so the server is moto in
server mode: a real HTTP endpoint that boto3 talks to over the wire, multipart uploads included.
"""

from __future__ import annotations

import json

import pytest

from mlci.cli import main
from mlci.publish.stores.s3 import MANIFEST_NAME, S3Store, make_client
from mlci.record.store import RunRecord

pytest.importorskip("boto3")
pytest.importorskip("moto.server")  # the `endpoint` fixture (tests/stores/conftest.py) serves moto

MB = 1024 * 1024
BUCKET = "mlci-artifacts"


@pytest.fixture
def client(endpoint):
    s3 = make_client(endpoint_url=endpoint, region="us-east-1", access_key_id="testkey", secret_access_key="testsecret")
    s3.create_bucket(Bucket=BUCKET)
    yield s3
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])
    s3.delete_bucket(Bucket=BUCKET)


def read_json(client, key: str):
    return json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def keys(client) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


class FailingUploads:
    """Wraps a boto3 client: uploads fail as scripted, everything else passes through."""

    def __init__(self, client, fail_on: dict[int, Exception]):
        self._client = client
        self._fail_on = fail_on
        self.uploads = 0

    def upload_file(self, *args, **kwargs):
        self.uploads += 1
        if self.uploads in self._fail_on:
            raise self._fail_on[self.uploads]
        return self._client.upload_file(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_publish_uploads_outputs_then_manifest_then_latest(client, make_run):
    record = make_run(files={"model.bin": b"weights", "eval/report.txt": b"ok"})
    url = S3Store("s3", client, BUCKET, "team/models").publish(record, record.dir / "attempt-2/out")

    base = f"team/models/digits/{record.job_id}"
    assert url == f"s3://{BUCKET}/{base}/"
    assert keys(client) == {
        f"{base}/model.bin",
        f"{base}/eval/report.txt",
        f"{base}/{MANIFEST_NAME}",
        "team/models/digits/latest.json",
    }
    manifest = read_json(client, f"{base}/{MANIFEST_NAME}")
    assert [f["path"] for f in manifest["files"]] == ["eval/report.txt", "model.bin"]
    assert manifest["commit"] == record.state.commit
    assert read_json(client, "team/models/digits/latest.json")["jobId"] == record.job_id


def test_large_file_goes_up_in_multipart_parts(client, make_run):
    big = bytes(range(256)) * (11 * MB // 256)  # 11 MiB: parts of 5 + 5 + 1 MiB
    record = make_run(files={"weights.safetensors": big})
    store = S3Store("s3", client, BUCKET, multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
    store.publish(record, record.dir / "attempt-2/out")

    key = f"digits/{record.job_id}/weights.safetensors"
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # S3's ETag of a 3-part multipart upload
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == big


def test_interrupted_publish_leaves_no_manifest_and_latest_unchanged(client, make_run):
    first = make_run(job="job-1")
    S3Store("s3", client, BUCKET).publish(first, first.dir / "attempt-2/out")
    second = make_run(job="job-2", files={"a.bin": b"a", "b.bin": b"b", "c.bin": b"c"})
    broken = FailingUploads(client, {2: PermissionError("disk vanished")})  # not transient: no retry

    with pytest.raises(PermissionError):
        S3Store("s3", broken, BUCKET).publish(second, second.dir / "attempt-2/out")

    assert f"digits/job-2/{MANIFEST_NAME}" not in keys(client)
    assert "digits/job-2/a.bin" in keys(client)  # the partial upload exists but is not published
    assert read_json(client, "digits/latest.json")["jobId"] == "job-1"

    # publishing again completes the job and only then moves latest
    S3Store("s3", client, BUCKET).publish(second, second.dir / "attempt-2/out")
    assert f"digits/job-2/{MANIFEST_NAME}" in keys(client)
    assert read_json(client, "digits/latest.json")["jobId"] == "job-2"


def test_republishing_a_published_job_uploads_nothing(client, make_run):
    record = make_run()
    url = S3Store("s3", client, BUCKET).publish(record, record.dir / "attempt-2/out")
    counting = FailingUploads(client, {})

    assert S3Store("s3", counting, BUCKET).publish(record, record.dir / "attempt-2/out") == url
    assert counting.uploads == 0


def test_transient_errors_are_retried_with_backoff(client, make_run, no_backoff):
    from botocore.exceptions import EndpointConnectionError

    record = make_run(files={"model.bin": b"w"})
    flaky = FailingUploads(
        client,
        {
            1: EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
            2: EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        },
    )
    S3Store("s3", flaky, BUCKET).publish(record, record.dir / "attempt-2/out")

    assert flaky.uploads == 3
    assert len(no_backoff) == 2 and no_backoff[1] > no_backoff[0] * 0.9 / 2  # grows (jittered)
    assert f"digits/{record.job_id}/{MANIFEST_NAME}" in keys(client)


def test_publish_command_uses_manifest_secrets_and_records_the_url(
    tmp_path, client, endpoint, make_run, monkeypatch, capsys
):
    monkeypatch.setenv("MLCI_TEST_S3_KEY", "AKIAMLCITESTKEY0001")
    monkeypatch.setenv("MLCI_TEST_S3_SECRET", "s3-secret-value-never-printed")
    (tmp_path / "mlci.yaml").write_text(
        "version: 1\nname: t\nartifacts:\n  default: s3\n  stores:\n"
        f"    s3: {{type: s3, bucket: {BUCKET}, prefix: runs, endpoint_url: '{endpoint}', region: us-east-1,"
        " access_key_id: MLCI_TEST_S3_KEY, secret_access_key: MLCI_TEST_S3_SECRET}\n"
    )
    record = make_run(root=tmp_path)

    assert main(["--root", str(tmp_path), "publish", "digits"]) == 0

    url = f"s3://{BUCKET}/runs/digits/{record.job_id}/"
    state = RunRecord.load(record.dir).state
    assert state.publish is not None and state.publish.store == "s3" and state.publish.url == url
    assert state.run.artifact_url == url
    assert f"runs/digits/{record.job_id}/{MANIFEST_NAME}" in keys(client)
    out = capsys.readouterr()
    assert url in out.out
    assert "s3-secret-value-never-printed" not in out.out + out.err + (record.dir / "status.json").read_text()


def test_republishing_an_older_run_leaves_latest_on_the_newer_one(client, make_run):
    older, newer = make_run(job="job-old"), make_run(job="job-new")
    older.state.created_at, newer.state.created_at = "2026-11-20T00:00:00.000Z", "2026-11-21T00:00:00.000Z"
    store = S3Store("s3", client, BUCKET)
    store.publish(newer, newer.dir / "attempt-2/out")
    store.publish(older, older.dir / "attempt-2/out")
    assert read_json(client, "digits/latest.json")["jobId"] == "job-new"


def test_a_different_republish_under_a_published_id_is_refused(client, make_run, tmp_path):
    from mlci.publish.stores.base import RepublishConflict

    job = "3f2a9c1d5e7b-mlci-release-12"  # one id, two runs: as when Jenkins job ids collided
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_run(job=job, files={"model.bin": b"old weights"}, root=tmp_path / "a")
    second = make_run(job=job, files={"model.bin": b"new weights", "extra.txt": b"x"}, root=tmp_path / "b")
    store = S3Store("s3", client, BUCKET)
    url = store.publish(first, first.dir / "attempt-2/out")
    with pytest.raises(RepublishConflict) as refused:
        store.publish(second, second.dir / "attempt-2/out")
    assert "changed: model.bin" in str(refused.value) and "only in this run: extra.txt" in str(refused.value)
    assert client.get_object(Bucket=BUCKET, Key=f"digits/{job}/model.bin")["Body"].read() == b"old weights"
    assert read_json(client, "digits/latest.json")["url"] == url
    assert store.publish(first, first.dir / "attempt-2/out") == url  # the same content: still idempotent
