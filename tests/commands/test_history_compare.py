"""`mlci history` and `mlci compare` over records made through the record's transitions."""

from __future__ import annotations

import json

import pytest

from mlci.cli import main
from mlci.record.model import Experiment
from tests.record_support import finished_run


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.delenv("MLCI_RUNS_DIR", raising=False)
    (tmp_path / "projects" / "p").mkdir(parents=True)
    (tmp_path / "projects" / "p" / "project.yaml").write_text("{}\n")
    release = finished_run(tmp_path, "p", "rel-1", values=(0.91,), extra_metrics={"loss": 0.3})
    (release.dir / "config.yaml").write_text("model: {lr: 0.1, depth: 3}\n")
    exp = finished_run(tmp_path, "p", "exp-1", values=(0.95,), extra_metrics={"loss": 0.2}, close=False)
    exp.state.experiment = Experiment(name="lr-sweep", overrides={"model.lr": 0.01})
    exp.state.close(exp.state.overall_status.SUCCEEDED, None)
    exp.state.created_at = "2999-01-01T00:00:00.000Z"  # the newest
    exp.save()
    (exp.dir / "config.yaml").write_text("model: {lr: 0.01, depth: 3}\n")
    return tmp_path


def test_history_lists_newest_first_with_the_metric_and_filters(repo, capsys):
    assert main(["--root", str(repo), "history", "p", "--metric", "accuracy", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["jobId"], r["experiment"], r["metric"], r["overrides"]) for r in rows] == [
        ("exp-1", "lr-sweep", 0.95, {"model.lr": 0.01}),
        ("rel-1", None, 0.91, {}),
    ]
    assert main(["--root", str(repo), "history", "p", "--experiment", "-", "--json"]) == 0
    assert [r["jobId"] for r in json.loads(capsys.readouterr().out)] == ["rel-1"]
    assert main(["--root", str(repo), "history", "p", "--metric", "accuracy"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["JOB", "WHEN", "STATUS", "GATE", "COMMIT", "EXPERIMENT", "ACCURACY", "OVERRIDES"]
    assert table[1].split()[0] == "exp-1" and table[1].endswith("0.95  model.lr=0.01")


def test_history_reads_the_host_runs_dir_and_the_checkout(repo, tmp_path_factory, monkeypatch, capsys):
    host = tmp_path_factory.mktemp("host") / "runs"
    monkeypatch.setenv("MLCI_RUNS_DIR", str(host))
    finished_run(repo, "p", "from-jenkins", values=(0.97,))  # lands in MLCI_RUNS_DIR
    assert main(["--root", str(repo), "history", "p", "--json"]) == 0
    assert sorted(r["jobId"] for r in json.loads(capsys.readouterr().out)) == ["exp-1", "from-jenkins", "rel-1"]


def test_compare_shows_metric_deltas_and_what_differs(repo, capsys):
    assert main(["--root", str(repo), "compare", "rel-1", "p/exp-1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    by_metric = {m["metric"]: m for m in result["metrics"]}
    assert by_metric["accuracy"]["a"] == 0.91 and by_metric["accuracy"]["b"] == 0.95
    assert by_metric["accuracy"]["delta"] == pytest.approx(0.04)
    assert by_metric["loss"]["delta"] == pytest.approx(-0.1)
    assert result["config"] == [{"key": "model.lr", "a": 0.1, "b": 0.01}]
    assert result["overrides"] == [{"key": "model.lr", "a": None, "b": 0.01}]
    assert result["commit"]["same"] and result["image"]["same"]
    assert main(["--root", str(repo), "compare", "rel-1", "exp-1"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "+0.04" in text and "model.lr: 0.1 → 0.01" in text


def test_compare_names_a_missing_or_ambiguous_run(repo, capsys):
    assert main(["--root", str(repo), "compare", "rel-1", "nope"]) == 2
    assert "no run 'nope' in any project" in capsys.readouterr().err
    (repo / "projects" / "q").mkdir()
    (repo / "projects" / "q" / "project.yaml").write_text("{}\n")
    finished_run(repo, "q", "rel-1", values=(0.9,))
    assert main(["--root", str(repo), "compare", "rel-1", "exp-1"]) == 2
    assert "exists in several projects (p, q) — name it as PROJECT/JOB" in capsys.readouterr().err
