"""Stores refuse to re-publish different content under an existing job id: otherwise the second
publish of a colliding id would return the old URL, never move `latest`, and the build would say
"published" while the store kept the older model. The same content stays an idempotent success."""

from __future__ import annotations

import pytest

from mlci.publish.stores.base import RepublishConflict
from mlci.publish.stores.local import LocalStore

JOB = "3f2a9c1d5e7b-mlci-release-12"


def two_runs(make_run, tmp_path, second_files):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_run(job=JOB, files={"model.bin": b"old weights"}, root=tmp_path / "a")
    second = make_run(job=JOB, files=second_files, root=tmp_path / "b")
    return first, second


def test_local_store_refuses_different_content_under_a_published_id(make_run, tmp_path):
    first, second = two_runs(make_run, tmp_path, {"model.bin": b"new weights"})
    store = LocalStore("local", tmp_path / "store")
    store.publish(first, first.dir / "attempt-2/out")
    with pytest.raises(RepublishConflict, match=r"different outputs for digits job .*changed: model\.bin"):
        store.publish(second, second.dir / "attempt-2/out")
    assert (tmp_path / "store/digits" / JOB / "model.bin").read_bytes() == b"old weights"


def test_local_store_republishing_the_same_content_is_idempotent(make_run, tmp_path):
    first, second = two_runs(make_run, tmp_path, {"model.bin": b"old weights"})
    store = LocalStore("local", tmp_path / "store")
    url = store.publish(first, first.dir / "attempt-2/out")
    assert store.publish(second, second.dir / "attempt-2/out") == url
