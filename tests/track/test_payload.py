"""What a record becomes before anything is sent (no server): names MLflow would refuse, the
all-or-nothing artifacts and their links, and a missing client."""

from __future__ import annotations

import os
import sys

from mlci.manifest.schema import Manifest
from mlci.record.store import RunRecord
from mlci.track import mlflow as mlflow_track
from mlci.track.payload import build_payload
from tests.record_support import finished_run


def test_names_mlflow_refuses_are_rewritten(tmp_path):
    record = finished_run(tmp_path, extra_metrics={"val/acc": 0.5, "..hidden": 1.0, "f1[macro]": 0.7})
    record.path("config.yaml").write_text("a/b: 1\n'x y': 2\n")
    payload = build_payload(record, max_artifact_bytes=1 << 20)
    assert set(payload.parent.metrics) == {"accuracy", "val_acc", "_..hidden", "f1_macro_"}
    assert payload.parent.params["a_b"] == "1" and payload.parent.params["x y"] == "2"


def test_outputs_are_sent_whole_and_links_never_followed(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not the run's")
    record = finished_run(tmp_path, files={"model.bin": b"w" * 10, "sub/a.txt": b"a"})
    out = record.path(record.state.attempts[-1].output_dir)
    os.symlink(outside, out / "link.txt")
    artifacts = build_payload(record, max_artifact_bytes=11).artifacts
    assert artifacts.files == ["model.bin", "sub/a.txt"] and artifacts.size_bytes == 11
    assert build_payload(record, max_artifact_bytes=10).artifacts.directory is None


def test_without_the_client_the_record_says_how_to_install_it(tmp_path, monkeypatch):
    for name in ("mlflow", "mlflow.entities", "mlflow.exceptions", "mlflow.tracking"):
        monkeypatch.setitem(sys.modules, name, None)  # what an install without the extra finds
    record = finished_run(tmp_path)
    manifest = Manifest.model_validate(
        {"version": 1, "name": "t", "tracking": {"mlflow": {"uri": "http://127.0.0.1:9"}}}
    )
    tracking = mlflow_track.track_run(tmp_path, manifest, record)
    assert "pip install 'mlci[mlflow]'" in tracking.warning
    assert RunRecord.load(record.dir).state.tracking.warning == tracking.warning
