"""`mlci publish`: refuses runs whose gate did not pass, records the URL, picks the right store."""

from __future__ import annotations

import pytest

from mlci.cli import main
from mlci.record.store import RunRecord
from mlci.run.gate import judge


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "mlci.yaml").write_text(
        "version: 1\nname: t\nartifacts:\n  default: shelf\n  stores:\n"
        "    shelf: {type: local, path: shelf}\n    other: {type: local, path: other}\n"
    )
    return tmp_path


def publish(repo, *args):
    return main(["--root", str(repo), "publish", *args])


def test_refuses_a_run_whose_gate_failed(repo, make_run, capsys):
    record = make_run(root=repo, status="Failed")
    assert publish(repo, "digits") == 1
    err = capsys.readouterr().err
    assert f"refusing to publish digits run {record.job_id}: its status is Failed" in err
    assert "gate accuracy >= 0.9: 0.71" in err
    assert not (repo / "shelf").exists()
    assert RunRecord.load(record.dir).state.publish is None


def test_refuses_a_run_that_is_still_running(repo, make_run, capsys):
    make_run(root=repo, status="Running")  # its owner (this process) is alive
    assert publish(repo, "digits") == 1
    assert "its status is Running" in capsys.readouterr().err


def test_publishes_to_the_default_store_and_records_the_url(repo, make_run, capsys):
    record = make_run(root=repo, files={"model.bin": b"w"})
    assert publish(repo, "digits", record.job_id) == 0

    target = repo / "shelf" / "digits" / record.job_id
    assert (target / "model.bin").read_bytes() == b"w"
    assert (repo / "shelf" / "digits" / "latest").resolve() == target.resolve()
    state = RunRecord.load(record.dir).state
    assert state.publish is not None and state.publish.store == "shelf"
    assert state.publish.url == state.run.artifact_url == target.resolve().as_uri()
    assert state.publish.published_at
    assert state.publish.digest and state.publish.digest.startswith("sha256:")
    assert target.resolve().as_uri() in capsys.readouterr().out


def test_project_publish_store_is_used_unless_store_is_given(repo, make_run):
    project = repo / "projects" / "digits"
    project.mkdir(parents=True)
    (project / "project.yaml").write_text("publish: {store: other}\n")
    (project / "config.yaml").write_text("lr: 0.1\n")
    first = make_run(root=repo)
    assert publish(repo, "digits", first.job_id) == 0
    assert (repo / "other" / "digits" / first.job_id).is_dir()
    publication = RunRecord.load(first.dir).state.publish
    assert publication is not None and publication.config_hash and publication.config_hash.startswith("sha256:")

    second = make_run(root=repo)
    assert publish(repo, "digits", second.job_id, "--store", "shelf") == 0
    assert (repo / "shelf" / "digits" / second.job_id).is_dir()


def test_unknown_store_lists_the_choices(repo, make_run, capsys):
    make_run(root=repo)
    assert publish(repo, "digits", "--store", "nope") == 2
    assert "no artifact store 'nope' in mlci.yaml — use one of: other, shelf" in capsys.readouterr().err


def test_missing_outputs_are_an_error_not_an_empty_publish(repo, make_run, capsys):
    record = make_run(root=repo)
    record.state.run.output_dir = "attempt-9/out"
    record.save()
    assert publish(repo, "digits") == 1
    assert "outputs attempt-9/out are missing" in capsys.readouterr().err


def test_refusal_of_a_gate_less_failure_gives_the_error(repo, make_run, capsys):
    record = make_run(root=repo, status="Failed")
    record.state.gate = judge(None, {}, None)  # the verdict mlci run records for a project without a gate
    record.state.error = "stage train exited 1"
    record.save()
    assert publish(repo, "digits") == 1
    assert "its status is Failed (stage train exited 1)" in capsys.readouterr().err
