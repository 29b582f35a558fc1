"""A version's outputs from an S3 store (moto in server mode) as a checked host-local copy: fetched,
checked against the index's content digest and renamed into place; reused after re-checking; fetched
again when the copy was changed; refused when the store's objects are not what was published."""

from __future__ import annotations

import pytest

from mlci.bundle.source import resolve
from mlci.deploy.target import resolve_target
from mlci.errors import MlciError
from mlci.manifest import load_manifest
from mlci.publish.stores import open_store
from mlci.publish.version_cache import cached_outputs
from tests.conftest import write_project
from tests.stores.promotion_support import BUCKET, publish_versions

pytest.importorskip("boto3")
pytest.importorskip("moto.server")


@pytest.fixture
def store(s3_repo, make_run):
    publish_versions(s3_repo, make_run, 2)
    return open_store(load_manifest(s3_repo), "s3", s3_repo)


def _entry(store, version: str):
    return next(e for e in store.versions("digits") if e.version == version)


def test_fetched_once_checked_and_reused(store, tmp_path, monkeypatch):
    said: list[str] = []
    cache = tmp_path / "cache"
    path = cached_outputs(store, _entry(store, "v2"), cache, 1 << 20, said.append)
    assert path == cache / "deploy" / "digits" / "job-2"
    assert (path / "model.bin").read_bytes() == b"weights-2" and (path / "meta/info.txt").read_bytes() == b"n=2"
    assert sorted(p.name for p in path.parent.iterdir()) == ["job-2"]  # no partial left
    assert "fetching its outputs from store 's3'" in said[-1]

    def no_fetch(*_args):
        raise AssertionError("a checked copy must be reused")

    monkeypatch.setattr(type(store), "fetch_version", no_fetch)
    assert cached_outputs(store, _entry(store, "v2"), cache, 1 << 20, said.append) == path
    assert "reusing the checked copy" in said[-1]


def test_a_changed_copy_is_fetched_again(store, tmp_path):
    said: list[str] = []
    cache = tmp_path / "cache"
    path = cached_outputs(store, _entry(store, "v1"), cache, 1 << 20, said.append)
    (path / "model.bin").write_bytes(b"tampered")
    (path / "extra").write_bytes(b"x")
    assert cached_outputs(store, _entry(store, "v1"), cache, 1 << 20, said.append) == path
    assert "is not what was published; fetching it again" in said[-2]
    assert (path / "model.bin").read_bytes() == b"weights-1" and not (path / "extra").exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["job-1"]


def test_a_store_changed_after_publishing_is_refused(store, client, tmp_path):
    client.put_object(Bucket=BUCKET, Key="team/digits/job-1/model.bin", Body=b"swapped")
    cache = tmp_path / "cache"
    with pytest.raises(MlciError, match="not what was published"):
        cached_outputs(store, _entry(store, "v1"), cache, 1 << 20, print)
    assert list((cache / "deploy" / "digits").iterdir()) == []


def test_a_version_without_a_digest_is_refused(store, tmp_path):
    entry = _entry(store, "v1").model_copy(update={"digest": None})
    with pytest.raises(MlciError, match="records no content digest"):
        cached_outputs(store, entry, tmp_path / "cache", 1 << 20, print)


def test_deploy_and_bundle_take_the_model_from_the_checked_copy(store, tmp_path, monkeypatch):
    monkeypatch.setenv("MLCI_CACHE_DIR", str(tmp_path / "cache"))
    write_project(tmp_path, "digits", "serve: {command: python src/serve.py, port: 8080}\n")
    manifest = load_manifest(tmp_path)
    said: list[str] = []
    target = resolve_target(tmp_path, manifest, "digits", "qa", "v2", said.append)
    copy = tmp_path / "cache" / "deploy" / "digits" / "job-2"
    assert target.model_dir == copy and not target.promoted
    assert (copy / "model.bin").read_bytes() == b"weights-2"
    source = resolve(tmp_path, manifest, "digits", "v2", "s3", said.append)
    assert source.model_dir == copy and sorted(f.rel for f in source.model_files) == ["meta/info.txt", "model.bin"]
    assert "reusing the checked copy" in said[-1] and source.serve.port == 8080
