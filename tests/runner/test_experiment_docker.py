"""The experiment loop on the real engine: an experiment run with overrides is recorded and never
published, history lists it, compare shows the deltas, rerun reproduces the image and the config."""

from __future__ import annotations

import json

import pytest

from tests.conftest import commit_all, mlci, write_project

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TRAIN = """\
    import json, os, re  # the base image has no PyYAML: read the one value by hand
    text = open(os.environ["MLCI_CONFIG"]).read()
    score = 0.5 + float(re.search(r"lr: ([0-9.]+)", text).group(1))
    out = os.environ["MLCI_OUTPUT_DIR"]
    json.dump({"accuracy": score}, open(f"{out}/metrics.json", "w"))
    open(f"{out}/seen-config.yaml", "w").write(open(os.environ["MLCI_CONFIG"]).read())
"""


def test_experiment_history_compare_rerun(monorepo, base_image, docker_client):
    write_project(
        monorepo,
        "exp",
        "stages: [{name: train, run: python3 train.py}]\ngate: {metric: accuracy, min: 0.5}\n",
        files={"train.py": TRAIN, "config.yaml": "model:\n  lr: 0.1   # the baseline\n"},
    )
    commit_all(monorepo)
    release = mlci(monorepo, "run", "exp", "--job-id", "rel", "-q")
    assert release.returncode == 0, release.stderr
    run = mlci(monorepo, "run", "exp", "--job-id", "try", "--experiment", "lr-up", "--set", "model.lr=0.3", "-q")
    assert run.returncode == 0, run.stderr
    runs = monorepo / ".mlci" / "runs" / "exp"
    record = json.loads((runs / "try" / "status.json").read_text())
    assert record["experiment"] == {"name": "lr-up", "overrides": {"model.lr": 0.3}}
    assert record["metrics"] == {"accuracy": 0.8} and record["publish"] is None
    assert (runs / "try" / "attempt-1" / "out" / "seen-config.yaml").read_text() == "model:\n  lr: 0.3\n"
    assert (monorepo / "projects" / "exp" / "config.yaml").read_text() == "model:\n  lr: 0.1   # the baseline\n"
    assert not (monorepo / ".mlci" / "artifacts" / "exp" / "try").exists()
    assert (monorepo / ".mlci" / "artifacts" / "exp" / "rel").is_dir()  # the release run published

    history = mlci(monorepo, "history", "exp", "--metric", "accuracy", "--json")
    rows = json.loads(history.stdout)
    assert [(r["jobId"], r["experiment"], r["metric"]) for r in rows] == [("try", "lr-up", 0.8), ("rel", None, 0.6)]

    compared = json.loads(mlci(monorepo, "compare", "rel", "try", "--json").stdout)
    assert compared["metrics"][0]["delta"] == pytest.approx(0.2)
    assert compared["config"] == [{"key": "model.lr", "a": 0.1, "b": 0.3}] and compared["image"]["same"]

    # the project's config changes; a rerun still sees what the original saw, in the same image
    (monorepo / "projects" / "exp" / "config.yaml").write_text("model:\n  lr: 0.45\n")
    rerun = mlci(monorepo, "rerun", "exp", "try", "-q")
    assert rerun.returncode == 0, rerun.stderr
    again = json.loads((runs / "try-rerun" / "status.json").read_text())
    assert again["rerunOf"] == "try" and again["build"]["status"] == "Skipped"
    assert again["build"]["imageId"] == record["build"]["imageId"]
    assert again["configHash"] == record["configHash"] and again["metrics"] == {"accuracy": 0.8}
    assert again["experiment"] == record["experiment"] and again["publish"] is None
