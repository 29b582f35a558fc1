"""A runs directory holding records mlci cannot trust: each is reported by path in one line and
skipped; the other runs still list, and no command ends in an internal error because of it."""

from __future__ import annotations

import json
import os

import pytest

from mlci.cli import main
from mlci.record.readers import find_record, iter_records
from mlci.record.store import RunRecord, UnreadableRecord
from mlci.run.ownership import clean_leftovers
from tests.conftest import BAD_RECORDS_MARKER
from tests.record_support import finished_run

BAD = {
    "a-list": "[1, 2, 3]\n",
    "truncated": '{"schemaVersion": 2, "jobId": "truncated", "proj',
    "wrong-type": None,  # a good record with attempts as a string, written below
    "newer": None,  # schemaVersion 99
    "unknown-status": None,
    "moved": None,  # a record copied into another job's directory
    "not-utf8": b'{"jobId": "\xff"}',
}


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """One good run of project p, plus one bad record of each kind beside it."""
    monkeypatch.delenv("MLCI_RUNS_DIR", raising=False)
    (tmp_path / BAD_RECORDS_MARKER).touch()  # the session's schema check skips this tree
    (tmp_path / "projects" / "p").mkdir(parents=True)
    (tmp_path / "projects" / "p" / "project.yaml").write_text("{}\n")
    good = finished_run(tmp_path, "p", "good", values=(0.95,))
    (good.dir / "build.log").write_text("built\n")
    (good.dir / "attempt-1" / "train.log").write_text("trained\n")
    template = json.loads((good.dir / "status.json").read_text())
    for job, content in BAD.items():
        directory = good.dir.parent / job
        directory.mkdir()
        if content is None:
            data = {**template, "jobId": job}
            if job == "wrong-type":
                data["attempts"] = "three"
            elif job == "newer":
                data["schemaVersion"] = 99
            elif job == "unknown-status":
                data["overallStatus"] = "Exploded"
            elif job == "moved":
                data["jobId"] = "good"
            content = json.dumps(data)
        (directory / "status.json").write_bytes(content.encode() if isinstance(content, str) else content)
    link = good.dir.parent / "linked"
    link.mkdir()
    (link / "status.json").symlink_to(good.dir / "status.json")
    return tmp_path


def test_every_bad_record_is_named_once_and_the_good_one_lists(runs):
    reported: list[str] = []
    assert [r.job_id for r in iter_records(runs, "p", report=reported.append)] == ["good"]
    assert len(reported) == len(BAD) + 1
    why = {line.split("/status.json: ")[0].rsplit("/", 1)[1]: line.split("/status.json: ")[1] for line in reported}
    assert "a JSON list" in why["a-list"]
    assert "not valid JSON" in why["truncated"] and "not valid JSON" in why["not-utf8"]
    assert why["wrong-type"].startswith("attempts:")
    assert "newer mlci (schema 99" in why["newer"]
    assert why["unknown-status"].startswith("overallStatus:")
    assert "records job 'good' of 'p', but lies in p/moved" in why["moved"]
    assert "symbolic link" in why["linked"]
    assert all("\n" not in line for line in reported)


def test_status_and_logs_survive_bad_records(runs, capsys):
    assert main(["--root", str(runs), "status", "--json"]) == 0
    out = capsys.readouterr()
    assert [row["jobId"] for row in json.loads(out.out)] == ["good"]
    assert out.err.count("mlci: skipping ") == len(BAD) + 1 and "internal error" not in out.err

    assert main(["--root", str(runs), "logs", "p"]) == 0  # the latest readable run
    assert "internal error" not in capsys.readouterr().err
    assert main(["--root", str(runs), "logs", "p", "truncated"]) == 2
    assert "run 'truncated' of p cannot be read: not valid JSON" in capsys.readouterr().err


def test_publish_trusts_the_directory_not_the_job_id_inside(runs, capsys):
    with pytest.raises(UnreadableRecord, match="lies in p/moved"):
        RunRecord.load(runs / ".mlci" / "runs" / "p" / "moved")
    assert main(["--root", str(runs), "publish", "p", "moved"]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert not (runs / ".mlci" / "artifacts" / "p" / "good").exists()
    assert find_record(runs, "p").job_id == "good"


class NoContainers:
    """docker.APIClient.containers, strict about the one call leftover cleanup makes."""

    def containers(self, *, all: bool, filters: dict) -> list:
        assert all is True and filters == {"label": ["mlci.project=p"]}
        return []


class Client:
    api = NoContainers()


def test_the_leftover_cleanup_before_a_run_survives_bad_records(runs, capsys):
    said: list[str] = []
    clean_leftovers(Client(), runs, "p", said.append)
    assert said == [] and "mlci: skipping" in capsys.readouterr().err


def test_a_dead_runs_record_is_marked_interrupted_by_the_cleanup(runs):
    dead = finished_run(runs, "p", "dead", values=(0.95,), close=False)
    dead.state.owner = dead.state.owner.model_copy(update={"pid": 2**22 + 1, "start_ticks": 1})
    dead.save()
    clean_leftovers(Client(), runs, "p", lambda line: None)
    state = RunRecord.load(dead.dir).state
    assert state.overall_status == "Interrupted" and state.attempts[0].status == "Succeeded"
    assert os.path.exists(dead.dir / "status.json")
