"""The Hugging Face Hub store: the real huggingface_hub client against a local hub on 127.0.0.1."""

from __future__ import annotations

import hashlib

import pytest

from mlci.cli import main
from mlci.record.store import RunRecord

pytest.importorskip("huggingface_hub")

from mlci.publish.stores.huggingface import HubStore
from mlci.run.gate import judge

from .fake_hub import FakeHub, decoded_files

TOKEN = "hf_mlciTestTokenValue0123456789"
# huggingface_hub passes raw bytes the way httpx deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Use .content=:DeprecationWarning")


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub.constants

    # hf_xet would take the Xet protocol, which this fake hub does not speak; the LFS path is the fallback
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_DISABLE_XET", True)
    with FakeHub() as fake:
        yield fake


def make_store(hub, **kwargs) -> HubStore:
    from huggingface_hub import HfApi

    return HubStore("hub", HfApi(endpoint=hub.endpoint, token=TOKEN), "acme/models", **kwargs)


def test_publish_is_one_commit_on_the_job_revision_then_a_tag(hub, make_run):
    weights = bytes(range(256)) * 16  # 4 KiB: an LFS file
    record = make_run(files={"model.bin": weights, "metrics.json": b'{"accuracy": 0.93}'})

    url = make_store(hub).publish(record, record.dir / "attempt-2/out")

    revision = f"digits-{record.job_id}"
    assert url == f"{hub.endpoint}/acme/models/tree/{revision}"
    state = hub.state
    assert state.repos["acme/models"]["private"] is True
    [commit] = state.find("POST", r"/commit/")
    assert commit.path == f"/api/models/acme/models/commit/{revision}"
    header, *operations = commit.ndjson()
    assert header["value"]["summary"] == f"mlci: publish digits run {record.job_id}"
    assert {(op["key"], op["value"]["path"]) for op in operations} == {
        ("lfsFile", "model.bin"),
        ("file", "metrics.json"),
        ("file", "README.md"),
    }
    lfs = next(op["value"] for op in operations if op["key"] == "lfsFile")
    assert lfs["oid"] == hashlib.sha256(weights).hexdigest() and state.lfs[lfs["oid"]] == weights
    assert decoded_files(commit)["metrics.json"] == b'{"accuracy": 0.93}'
    # the branch exists before the commit, and the tag marks the commit only after it
    order = [r.path for r in state.requests if r.method == "POST"]
    assert order.index(f"/api/models/acme/models/branch/{revision}") < order.index(commit.path)
    [tag] = state.find("POST", r"/tag/")
    assert tag.json()["tag"] == f"published-digits-{record.job_id}"
    assert tag.path.endswith("/" + state.repos["acme/models"]["branches"][revision])
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in state.find("POST", r"/api/"))


def test_model_card_describes_metrics_gate_and_provenance(hub, make_run):
    record = make_run()
    record.state.build.pushed("sha256:" + "cd" * 32, "registry.example/digits@sha256:" + "cd" * 32)
    record.state.config_hash = "sha256:" + "ef" * 32
    make_store(hub).publish(record, record.dir / "attempt-2/out")

    card = decoded_files(hub.state.find("POST", r"/commit/")[0])["README.md"].decode()
    assert card.startswith("---\nlibrary_name: mlci\ntags:\n- mlci\n- digits\n---\n")
    assert "| accuracy | 0.93 |" in card and "| loss | 0.25 |" in card
    assert "`accuracy >= 0.9`: 0.93 — passed on attempt 2 of 2." in card
    assert f"source commit: `{record.state.commit}`" in card
    assert f"image digest: `sha256:{'cd' * 32}`" in card
    assert f"config hash: `sha256:{'ef' * 32}`" in card


def test_large_folders_are_uploaded_in_batches_before_a_single_commit(hub, make_run):
    files = {f"shards/part-{i}.bin": bytes([i]) * 2048 for i in range(5)}
    record = make_run(files=files)

    make_store(hub, batch_files=2).publish(record, record.dir / "attempt-2/out")

    assert len(hub.state.find("POST", r"/preupload/")) == 3  # 6 files (5 shards + card) in batches of 2
    assert len(hub.state.find("PUT", r"/_lfs/")) == 5
    [commit] = hub.state.find("POST", r"/commit/")
    assert {op["value"]["path"] for op in commit.ndjson()[1:]} == {*files, "README.md"}


def test_republishing_a_tagged_job_commits_nothing(hub, make_run):
    record = make_run()
    store = make_store(hub)
    first = store.publish(record, record.dir / "attempt-2/out")
    assert store.publish(record, record.dir / "attempt-2/out") == first
    assert len(hub.state.find("POST", r"/commit/")) == 1


def test_different_outputs_under_a_published_job_id_are_refused(hub, make_run, tmp_path):
    from mlci.publish.stores.base import RepublishConflict

    job = "3f2a9c1d5e7b-mlci-release-12"  # one id, two runs: as when Jenkins job ids collided
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_run(job=job, files={"model.bin": b"old weights"}, root=tmp_path / "a")
    same = make_run(job=job, files={"model.bin": b"old weights"}, root=tmp_path / "b")
    (tmp_path / "c").mkdir()
    other = make_run(job=job, files={"model.bin": b"new weights"}, root=tmp_path / "c")
    store = make_store(hub)
    url = store.publish(first, first.dir / "attempt-2/out")
    assert store.publish(same, same.dir / "attempt-2/out") == url  # the same outputs: idempotent
    with pytest.raises(RepublishConflict, match="already has different outputs for digits job"):
        store.publish(other, other.dir / "attempt-2/out")
    assert len(hub.state.find("POST", r"/commit/")) == 1


def test_transient_hub_errors_are_retried(hub, make_run, no_backoff):
    hub.state.fail_next["branch"] = [503, 502]
    record = make_run()
    make_store(hub).publish(record, record.dir / "attempt-2/out")
    assert len(no_backoff) == 2
    assert len(hub.state.find("POST", r"/commit/")) == 1


def test_permission_errors_are_not_retried(hub, make_run, no_backoff):
    hub.state.fail_next["branch"] = [403]
    record = make_run()
    with pytest.raises(Exception, match="403"):
        make_store(hub).publish(record, record.dir / "attempt-2/out")
    assert no_backoff == [] and hub.state.find("POST", r"/commit/") == []


def test_publish_command_with_a_hub_store(tmp_path, hub, make_run, monkeypatch, capsys):
    monkeypatch.setenv("MLCI_TEST_HF_TOKEN", TOKEN)
    (tmp_path / "mlci.yaml").write_text(
        "version: 1\nname: t\nartifacts:\n  default: local\n  stores:\n"
        "    local: {type: local, path: .mlci/artifacts}\n"
        f"    hub: {{type: huggingface, repo: acme/models, token: MLCI_TEST_HF_TOKEN, endpoint: '{hub.endpoint}'}}\n"
    )
    record = make_run(root=tmp_path)

    assert main(["--root", str(tmp_path), "publish", "digits", record.job_id, "--store", "hub"]) == 0

    state = RunRecord.load(record.dir).state
    assert state.run.artifact_url == f"{hub.endpoint}/acme/models/tree/digits-{record.job_id}"
    assert state.publish is not None and state.publish.store == "hub"
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err + (record.dir / "status.json").read_text()


def test_model_card_of_a_gate_less_project(hub, make_run):
    record = make_run()
    record.state.gate = judge(None, {}, None)  # the verdict mlci run records for a project without a gate
    make_store(hub).publish(record, record.dir / "attempt-2/out")
    card = decoded_files(hub.state.find("POST", r"/commit/")[0])["README.md"].decode()
    assert "No gate: every run passes." in card and "None" not in card
