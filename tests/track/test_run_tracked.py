"""`mlci run` on the real engine with tracking on: the run ends, then lands in the real MLflow
server; with the server down the run still succeeds in bounded time and its record says why."""

from __future__ import annotations

import json

import pytest

from mlci.record.store import RunRecord
from tests.conftest import commit_all, mlci, write_project

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TRAIN = """\
    import json, os
    out = os.environ["MLCI_OUTPUT_DIR"]
    json.dump({"accuracy": 0.75, "loss": 0.5}, open(f"{out}/metrics.json", "w"))
    open(f"{out}/tracking-uri.txt", "w").write(os.environ.get("MLFLOW_TRACKING_URI", "unset"))
"""


def tracked_repo(monorepo, uri: str, timeout: str):
    (monorepo / "mlci.yaml").write_text(
        f"version: 1\nname: test-repo\ntracking:\n  mlflow: {{uri: '{uri}', experiment: runs, timeout: {timeout}}}\n"
    )


def test_a_real_run_is_tracked_and_a_down_server_never_fails_it(
    monorepo, base_image, docker_client, mlflow_server, closed_port, client
):
    write_project(
        monorepo,
        "tiny",
        "stages: [{name: train, run: python3 train.py}]\ngate: {metric: accuracy, min: 0.5}\n",
        files={"train.py": TRAIN, "config.yaml": "epochs: 3\n"},
    )
    commit_all(monorepo)

    tracked_repo(monorepo, closed_port, "2s")
    down = mlci(monorepo, "run", "tiny", "--job-id", "offline", "-q", timeout=300)
    assert down.returncode == 0, down.stderr  # the run succeeded; only its tracking failed
    assert "mlci: MLflow: MLflow refused or failed" in down.stderr
    record = RunRecord.load(monorepo / ".mlci" / "runs" / "tiny" / "offline")
    assert record.state.overall_status.value == "Succeeded"
    assert record.state.tracking.warning and record.state.tracking.run_id is None

    tracked_repo(monorepo, mlflow_server.uri, "2m")
    up = mlci(monorepo, "run", "tiny", "--job-id", "online", "--experiment", "more", "--set", "epochs=5", "-q")
    assert up.returncode == 0, up.stderr
    record = RunRecord.load(monorepo / ".mlci" / "runs" / "tiny" / "online")
    tracking = record.state.tracking
    assert tracking.warning is None and f"mlci: MLflow: {tracking.url}" in up.stderr
    out = record.path(record.state.attempts[0].output_dir)
    assert (out / "tracking-uri.txt").read_text() == mlflow_server.uri  # given to the stage too
    run = client.get_run(tracking.run_id)
    assert run.data.metrics == {"accuracy": 0.75, "loss": 0.5}
    assert run.data.params["epochs"] == "5" and json.loads(run.data.params["mlci.overrides"]) == {"epochs": 5}
    assert run.data.params["mlci.image"] == record.state.build.image_id
    assert {a.path for a in client.list_artifacts(tracking.run_id, "outputs")} == {
        "outputs/metrics.json",
        "outputs/tracking-uri.txt",
    }
    children = client.search_runs([tracking.experiment_id], f"tags.`mlflow.parentRunId` = '{tracking.run_id}'")
    assert [c.data.tags["mlci.attempt"] for c in children] == ["1"]

    # the run that missed the server is sent later, beside the other
    late = mlci(monorepo, "track", "tiny", "offline")
    assert late.returncode == 0, late.stderr
    names = {r.info.run_name for r in client.search_runs([tracking.experiment_id], "tags.`mlci.kind` = 'run'")}
    assert {"tiny/offline", "tiny/online"} <= names
