"""Model versions in a local store: v1, v2, ... in `<store>/<project>/versions.json`, claimed under
a lock, never lost or duplicated by concurrent publishers, and a hostile index is never written over."""

from __future__ import annotations

import json

import pytest

from mlci.cli import main
from mlci.record.store import RunRecord
from tests.stores.versions_support import publish_concurrently, write_manifest


@pytest.fixture
def repo(tmp_path):
    write_manifest(tmp_path)
    return tmp_path


def index(repo):
    return json.loads((repo / "shelf" / "digits" / "versions.json").read_text())


def test_two_publications_are_v1_and_v2_and_the_record_notes_each(repo, make_run, capsys):
    first, second = make_run(root=repo, job="job-a"), make_run(root=repo, job="job-b")
    assert main(["--root", str(repo), "publish", "digits", "job-a"]) == 0
    assert "✓ published digits run job-a as v1:" in capsys.readouterr().out
    assert main(["--root", str(repo), "publish", "digits", "job-b", "--approved-by", "alice"]) == 0

    data = index(repo)
    assert data["schemaVersion"] == 1 and data["project"] == "digits"
    v1, v2 = data["versions"]
    assert (v1["version"], v1["jobId"], v2["version"], v2["jobId"]) == ("v1", "job-a", "v2", "job-b")
    assert v2["approvedBy"] == "alice" and v1["approvedBy"] is None
    assert v2["commit"] == first.state.commit and v2["imageDigest"] == "sha256:" + "ab" * 32
    assert v2["metrics"] == {"accuracy": 0.93, "loss": 0.25}
    assert v2["gate"]["passed"] is True and v2["gate"]["metric"] == "accuracy"
    assert v2["digest"].startswith("sha256:") and v2["publishedAt"] and v2["store"] == "shelf"
    assert RunRecord.load(first.dir).state.publish.version == "v1"
    state = RunRecord.load(second.dir).state
    assert state.publish.version == "v2" and state.publish.url == v2["url"]


def test_republishing_a_job_keeps_its_version(repo, make_run):
    make_run(root=repo, job="job-a")
    make_run(root=repo, job="job-b")
    for job in ("job-a", "job-b", "job-a"):
        assert main(["--root", str(repo), "publish", "digits", job]) == 0
    assert [(v["version"], v["jobId"]) for v in index(repo)["versions"]] == [("v1", "job-a"), ("v2", "job-b")]


def test_two_concurrent_publishers_make_exactly_v1_to_v20(repo, make_run):
    records = [make_run(root=repo, job=f"job-{n:02d}", files={"model.bin": b"w%d" % n}) for n in range(20)]
    got = publish_concurrently(repo, records, publishers=2)

    assert sorted(got, key=lambda v: int(v[1:])) == [f"v{n}" for n in range(1, 21)]
    versions = index(repo)["versions"]
    assert [v["version"] for v in versions] == [f"v{n}" for n in range(1, 21)]
    assert sorted(v["jobId"] for v in versions) == [r.job_id for r in records]
    for record in records:  # each record notes the version the index gave its job
        version = RunRecord.load(record.dir).state.publish.version
        assert next(v for v in versions if v["version"] == version)["jobId"] == record.job_id


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"schemaVersion": 1, "project": "digits", "versions": [', "is not valid JSON"),
        (b'{"schemaVersion": 2, "project": "digits", "versions": []}', "written by a newer mlci (schema 2"),
        (b'["v1"]', "is not a JSON object"),
        (b'{"project": "digits", "versions": []}', "no valid schemaVersion"),
        (b'{"schemaVersion": 1, "project": "other", "versions": []}', "is not digits's"),
    ],
)
def test_a_corrupt_or_newer_index_is_refused_and_left_byte_identical(repo, make_run, capsys, content, message):
    record = make_run(root=repo, job="job-a")
    path = repo / "shelf" / "digits" / "versions.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)

    assert main(["--root", str(repo), "publish", "digits", "job-a"]) == 1
    assert message in capsys.readouterr().err
    assert path.read_bytes() == content
    assert not (repo / "shelf" / "digits" / "job-a").exists()  # refused before anything was copied
    assert RunRecord.load(record.dir).state.publish is None
    assert main(["--root", str(repo), "versions", "digits"]) == 1
    assert message in capsys.readouterr().err
    assert path.read_bytes() == content


def good_entry(version: str, job: str) -> dict:
    return {
        "version": version,
        "project": "digits",
        "jobId": job,
        "store": "shelf",
        "url": f"file:///x/{job}",
        "publishedAt": "2026-12-01T00:00:00.000Z",
    }


@pytest.mark.parametrize(
    "versions, message",
    [
        ([good_entry("v1", "a"), good_entry("v3", "b")], "gap before v3"),
        ([good_entry("v1", "a"), good_entry("v1", "b")], "duplicate"),
        ([good_entry("v01", "a")], "version: String should match pattern"),
        ([good_entry("1", "a")], "version: String should match pattern"),
        ([{**good_entry("v1", "a"), "metrics": {"acc": "high"}}], "metrics.acc"),
        ([{**good_entry("v1", "a"), "surprise": 1}], "surprise"),
    ],
)
def test_a_hostile_entry_is_refused_and_left_byte_identical(repo, make_run, capsys, versions, message):
    make_run(root=repo, job="job-a")
    path = repo / "shelf" / "digits" / "versions.json"
    path.parent.mkdir(parents=True)
    content = json.dumps({"schemaVersion": 1, "project": "digits", "versions": versions}).encode()
    path.write_bytes(content)

    assert main(["--root", str(repo), "publish", "digits", "job-a"]) == 1
    assert message in capsys.readouterr().err
    assert path.read_bytes() == content


def test_a_hub_store_keeps_no_versions_and_says_so(tmp_path, capsys):
    pytest.importorskip("huggingface_hub")
    (tmp_path / "mlci.yaml").write_text(
        "version: 1\nname: t\nartifacts:\n  default: hub\n  stores:\n    hub: {type: huggingface, repo: org/digits}\n"
    )
    assert main(["--root", str(tmp_path), "versions", "digits"]) == 2
    err = capsys.readouterr().err
    assert "store 'hub' (HubStore) keeps no model versions" in err and "local and s3 stores" in err
