"""Runs sent to a real MLflow server (mlflow==3.17.2, sqlite) and read back with MLflow's client:
the parent run and one child per attempt, params, metrics, tags, artifacts and their size cap,
masking of secret values, an idempotent second send, and the down-server path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from mlci.manifest.schema import Manifest
from mlci.record.model import Experiment
from mlci.record.store import RunRecord
from mlci.track.mlflow import track_run
from tests.conftest import mlci
from tests.record_support import COMMIT, finished_run

SECRET = "s3cr3t-value-that-must-not-leave"


def manifest(uri: str, **mlflow: object) -> Manifest:
    # a generous deadline: the point here is what the server holds, on a machine shared with other suites
    settings = {"uri": uri, "timeout": "2m", **mlflow}
    return Manifest.model_validate({"version": 1, "name": "t", "tracking": {"mlflow": settings}})


def experiment_run(root: Path, job: str, **kwargs) -> RunRecord:
    """A two-attempt run (gate failed, then passed) of an experiment, with its effective config kept."""
    record = finished_run(root, job=job, **kwargs)
    record.state.experiment = Experiment(name="lr-sweep", overrides={"optimizer.lr": 0.01})
    record.save()
    config = {"optimizer": {"lr": 0.01, "name": "adam"}, "layers": [64, 32], "api": {"token": SECRET}}
    record.path("config.yaml").write_text(yaml.safe_dump(config))
    return record


def runs_of(client, experiment: str, job: str):
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], filter_string=f"tags.`mlci.job` = '{job}'", max_results=100)


def test_a_run_becomes_a_parent_with_one_child_per_attempt(tmp_path, client, mlflow_server, monkeypatch):
    monkeypatch.setenv("MLCI_TEST_TOKEN", SECRET)  # a secret-looking variable: its value is masked
    monkeypatch.setenv("BUILD_URL", "https://ci.example.test/job/digits/7/")
    record = experiment_run(tmp_path, "exp-1", files={"model.bin": b"weights", "sub/notes.txt": b"ok"})

    tracking = track_run(tmp_path, manifest(mlflow_server.uri, experiment="mlci-test"), record)

    assert tracking.warning is None and tracking.server == mlflow_server.uri
    assert tracking.url == f"{mlflow_server.uri}/#/experiments/{tracking.experiment_id}/runs/{tracking.run_id}"
    assert RunRecord.load(record.dir).state.tracking == tracking  # saved in the record
    parent = client.get_run(tracking.run_id)
    params, tags, metrics = parent.data.params, parent.data.tags, parent.data.metrics
    assert parent.info.status == "FINISHED" and parent.info.run_name == "digits/exp-1"
    assert params["optimizer.lr"] == "0.01" and params["optimizer.name"] == "adam" and params["layers.1"] == "32"
    assert params["api.token"] == "****"  # the secret's value never reaches the server
    assert params["mlci.commit"] == COMMIT and params["mlci.job_id"] == "exp-1"
    assert params["mlci.image"] == "sha256:" + "ab" * 32 and params["mlci.experiment"] == "lr-sweep"
    assert json.loads(params["mlci.overrides"]) == {"optimizer.lr": 0.01}
    assert metrics == {"accuracy": 0.93}
    assert tags["mlci.status"] == "Succeeded" and tags["mlci.gate"] == "pass"
    assert tags["mlci.gate.reason"] == "accuracy = 0.93 >= 0.9"
    assert tags["mlci.record"] == str(record.dir / "status.json")
    assert tags["mlci.jenkins"] == "https://ci.example.test/job/digits/7/"
    assert tags["mlflow.source.git.commit"] == COMMIT
    assert SECRET not in json.dumps([params, tags])

    children = client.search_runs(
        [tracking.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{tracking.run_id}'"
    )
    by_attempt = {c.data.tags["mlci.attempt"]: c for c in children}
    assert sorted(by_attempt) == ["1", "2"]
    first, second = by_attempt["1"], by_attempt["2"]
    assert first.info.status == "FAILED" and first.data.tags["mlci.gate"] == "fail"
    assert first.data.metrics == {"accuracy": 0.85} and first.data.params["mlci.attempt"] == "1"
    assert second.info.status == "FINISHED" and second.data.metrics == {"accuracy": 0.93}
    assert second.data.params["optimizer.lr"] == "0.01"  # children compare like their parent
    assert second.data.params["mlci.commit"] == COMMIT

    # the passing attempt's outputs, read back through the server
    listed = {a.path for a in client.list_artifacts(tracking.run_id, "outputs")}
    assert listed == {"outputs/model.bin", "outputs/sub"}
    local = client.download_artifacts(tracking.run_id, "outputs/model.bin", str(tmp_path / "down"))
    assert Path(local).read_bytes() == b"weights"


def test_sending_again_updates_the_same_runs(tmp_path, client, mlflow_server):
    record = experiment_run(tmp_path, "again", files={"model.bin": b"weights", "sub/notes.txt": b"ok"})
    settings = manifest(mlflow_server.uri, experiment="mlci-test")
    first = track_run(tmp_path, settings, record)
    stored = {
        p.name: p for p in (mlflow_server.data / "artifacts").rglob("*") if first.run_id in str(p) and p.is_file()
    }
    assert sorted(stored) == ["model.bin", "notes.txt"]
    for path in stored.values():  # mark the server's copies: a second upload would replace them
        os.utime(path, (1, 1))
    (record.path(record.state.attempts[-1].output_dir) / "sub" / "notes.txt").write_bytes(b"changed")
    second = track_run(tmp_path, settings, RunRecord.load(record.dir))
    assert stored["model.bin"].stat().st_mtime == 1  # the same file at the same size: not sent again
    assert stored["notes.txt"].read_bytes() == b"changed"
    assert (second.run_id, second.warning) == (first.run_id, None)
    found = runs_of(client, "mlci-test", "again")
    assert len(found) == 3  # the parent and its two attempts, once
    history = client.get_metric_history(first.run_id, "accuracy")
    assert [(m.value, m.step) for m in history] == [(0.93, 2)]  # the same point, not a second one


def test_a_lost_run_id_is_found_by_its_tags(tmp_path, client, mlflow_server):
    """An earlier send timed out after creating the run, before the record could note its id."""
    record = experiment_run(tmp_path, "lost")
    settings = manifest(mlflow_server.uri, experiment="mlci-test")
    first = track_run(tmp_path, settings, record)
    record.state.tracking = None
    record.save()
    again = track_run(tmp_path, settings, record)
    assert again.run_id == first.run_id and len(runs_of(client, "mlci-test", "lost")) == 3


def test_outputs_over_the_size_cap_are_not_sent(tmp_path, client, mlflow_server):
    record = experiment_run(tmp_path, "big", files={"model.bin": b"x" * 4096})
    tracking = track_run(tmp_path, manifest(mlflow_server.uri, artifacts={"max_size": "1k"}), record)
    assert tracking.warning is None
    assert client.list_artifacts(tracking.run_id) == []
    note = client.get_run(tracking.run_id).data.tags["mlci.artifacts"]
    assert "4096 bytes exceed tracking.mlflow.artifacts.max_size (1024 bytes)" in note


def test_a_failed_run_is_failed_in_mlflow_and_sends_no_outputs(tmp_path, client, mlflow_server):
    record = finished_run(tmp_path, job="bad", values=(0.5,))
    tracking = track_run(tmp_path, manifest(mlflow_server.uri), record)
    run = client.get_run(tracking.run_id)
    assert run.info.status == "FAILED" and run.data.tags["mlci.gate"] == "fail"
    assert client.get_experiment(tracking.experiment_id).name == "digits"  # default: the project's name
    assert client.list_artifacts(tracking.run_id) == []


@pytest.mark.parametrize("server", ["closed_port", "silent_server"])
def test_a_down_server_leaves_a_warning_and_mlci_track_sends_it_later(server, request, tmp_path, client, mlflow_server):
    root = tmp_path / "repo"
    root.mkdir()
    down = request.getfixturevalue(server)
    (root / "mlci.yaml").write_text(f"version: 1\nname: t\ntracking:\n  mlflow: {{uri: '{down}', timeout: 1s}}\n")
    record = experiment_run(root, f"down-{server}")
    # the CLI, as Jenkins or a person would run it; a hang would end in TimeoutExpired
    late = mlci(root, "track", "digits", record.job_id, timeout=120)
    assert late.returncode == 1, late.stderr
    kept = RunRecord.load(record.dir).state.tracking
    assert kept is not None and kept.server == down and kept.run_id is None
    expected = "did not answer within 1s" if server == "silent_server" else "MLflow refused or failed"
    assert expected in kept.warning and f"mlci track digits {record.job_id}" in kept.warning
    assert expected in late.stderr

    (root / "mlci.yaml").write_text(
        f"version: 1\nname: t\ntracking:\n  mlflow: {{uri: '{mlflow_server.uri}', timeout: 2m}}\n"
    )
    sent = mlci(root, "track", "digits", record.job_id, timeout=120)
    assert sent.returncode == 0, sent.stderr
    kept = RunRecord.load(record.dir).state.tracking
    assert kept.warning is None and sent.stdout == f"mlci: MLflow: {kept.url}\n"  # nothing else on stdout
    assert client.get_run(kept.run_id).data.tags["mlci.job"] == record.job_id
