"""`mlci promote PROJECT VERSION --to ENV` between local stores, and `mlci versions --env`: v2 to qa
then prod, prod rolled back to v1, the promotion log, and what is refused (hostile names, an
approval-guarded environment outside its Jenkins job, a corrupt log — never overwritten)."""

from __future__ import annotations

import json

import pytest

from mlci.cli import main

MANIFEST = """version: 1
name: t
artifacts:
  default: shelf
  stores:
    shelf: {type: local, path: shelf}
    vault: {type: local, path: vault}
environments:
  qa: {store: shelf}
  prod: {store: vault}
  guarded: {store: vault, approval: true, approvers: [admin]}
"""


@pytest.fixture
def repo(tmp_path, make_run, monkeypatch):
    """v1 (job-a) and v2 (job-b) of digits published to shelf."""
    (tmp_path / "mlci.yaml").write_text(MANIFEST)
    monkeypatch.setenv("MLCI_USER", "carol")
    monkeypatch.delenv("MLCI_PROMOTE_APPROVED", raising=False)
    make_run(root=tmp_path, job="job-a", files={"model.bin": b"weights-1"})
    make_run(root=tmp_path, job="job-b", files={"model.bin": b"weights-2"})
    for job in ("job-a", "job-b"):
        assert main(["--root", str(tmp_path), "publish", "digits", job]) == 0
    return tmp_path


def mlci(repo, *args: str) -> int:
    return main(["--root", str(repo), *args])


def env_json(repo, capsys, env: str) -> dict:
    capsys.readouterr()
    assert mlci(repo, "versions", "digits", "--env", env, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_promote_to_qa_then_prod_then_roll_prod_back(repo, capsys):
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    assert "✓ promoted digits v2 to qa:" in capsys.readouterr().out
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod", "--by", "dave") == 0
    prod = repo / "vault" / "digits" / "envs" / "prod"
    assert (prod / "current").resolve() == (prod / "v2").resolve()
    assert (prod / "v2" / "model.bin").read_bytes() == b"weights-2"

    assert mlci(repo, "promote", "digits", "v1", "--to", "prod") == 0  # rollback
    assert "✓ promoted digits v1 to prod, replacing v2:" in capsys.readouterr().out
    assert (prod / "current").resolve() == (prod / "v1").resolve()
    assert (prod / "v1" / "model.bin").read_bytes() == b"weights-1"
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod") == 0  # forward again: v2's copy is reused
    assert (prod / "current").resolve() == (prod / "v2").resolve()

    got = env_json(repo, capsys, "prod")
    assert got["current"] == "v2"
    assert [(p["version"], p["previous"], p["by"], p["jobId"]) for p in got["history"]] == [
        ("v2", "v1", "carol", "job-b"),
        ("v1", "v2", "carol", "job-a"),
        ("v2", None, "dave", "job-b"),
    ]
    assert all(p["sourceStore"] == "shelf" and p["env"] == "prod" for p in got["history"])
    assert got["history"][0]["url"] == (prod / "v2").resolve().as_uri()
    assert env_json(repo, capsys, "qa")["current"] == "v2"
    log = json.loads((repo / "vault" / "digits" / "promotions.json").read_text())
    assert log["schemaVersion"] == 1 and [p["version"] for p in log["promotions"]] == ["v2", "v1", "v2"]
    assert (repo / "shelf" / "digits" / "promotions.json").is_file()  # qa's store keeps qa's log


def test_versions_env_table(repo, capsys):
    assert mlci(repo, "versions", "digits", "--env", "prod") == 0
    assert "nothing of digits promoted to prod" in capsys.readouterr().out
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod") == 0
    assert mlci(repo, "promote", "digits", "v1", "--to", "prod", "--by", "erin") == 0
    capsys.readouterr()
    assert mlci(repo, "versions", "digits", "--env", "prod") == 0
    summary, head, newest, oldest = capsys.readouterr().out.splitlines()
    assert summary == "digits in prod: v1 (job job-a, promoted by erin)"
    assert head.split()[:5] == ["PROMOTED", "VERSION", "REPLACED", "BY", "JOB"]
    assert newest.split()[2:6] == ["v1", "v2", "erin", "job-a"]
    assert oldest.split()[2:6] == ["v2", "-", "carol", "job-b"]


def test_promoting_the_current_version_again_records_nothing(repo, capsys):
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    assert "is current in qa already" in capsys.readouterr().out
    assert len(env_json(repo, capsys, "qa")["history"]) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("digits", "v2", "--to", "../prod"), "is not an environment name"),
        (("digits", "v2", "--to", "Prod"), "is not an environment name"),
        (("digits", "v2", "--to", "prd"), "did you mean 'prod'?"),
        (("digits", "2", "--to", "qa"), "is not a model version"),
        (("digits", "v02", "--to", "qa"), "is not a model version"),
        (("digits", "v2\n", "--to", "qa"), "is not a model version"),
        (("digits", "../../v1", "--to", "qa"), "is not a model version"),
        (("digits", "v9", "--to", "qa"), "no version v9 of digits in store 'shelf' (the newest is v2)"),
        (("digits", "v2", "--to", "qa", "--by", "a b;rm"), "is not a user name"),
        (("Digits/..", "v2", "--to", "qa"), "not a valid project name"),
    ],
)
def test_hostile_or_unknown_arguments_are_refused_with_exit_2(repo, capsys, args, message):
    capsys.readouterr()
    assert mlci(repo, "promote", *args) == 2
    assert message in capsys.readouterr().err
    assert not (repo / "shelf" / "digits" / "envs").exists() and not (repo / "vault" / "digits").exists()


def test_versions_env_refuses_an_unknown_environment_and_a_hostile_project(repo, capsys):
    assert mlci(repo, "versions", "digits", "--env", "staging") == 2
    assert "no environment 'staging' in mlci.yaml" in capsys.readouterr().err
    for args in (("../digits", "--env", "qa"), ("../digits",)):
        assert mlci(repo, "versions", *args) == 2
        assert "is not a valid project name" in capsys.readouterr().err


def test_an_approval_guarded_environment_is_refused_outside_the_promote_job(repo, capsys, monkeypatch):
    assert mlci(repo, "promote", "digits", "v2", "--to", "guarded") == 2
    err = capsys.readouterr().err
    assert "environment 'guarded' requires approval" in err and "mlci-promote" in err
    assert not (repo / "vault" / "digits").exists()
    monkeypatch.setenv("MLCI_PROMOTE_APPROVED", "prod")  # approved for another environment
    assert mlci(repo, "promote", "digits", "v2", "--to", "guarded") == 2
    monkeypatch.setenv("MLCI_PROMOTE_APPROVED", "guarded")  # what the mlci-promote job sets
    assert mlci(repo, "promote", "digits", "v2", "--to", "guarded", "--by", "admin") == 0
    assert env_json(repo, capsys, "guarded")["history"][0]["by"] == "admin"


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"schemaVersion": 1, "project": "digits", "promotions": [', "is not valid JSON"),
        (b'{"schemaVersion": 2, "project": "digits", "promotions": []}', "written by a newer mlci"),
        (b'{"schemaVersion": 1, "project": "other", "promotions": []}', "is not digits's list of promotions"),
        (b'{"schemaVersion": 1, "project": "digits", "promotions": [{"env": "prod"}]}', "[0]: project: Field required"),
        (
            b'{"schemaVersion": 1, "project": "digits", "promotions": [{"env": "../x", "project": "digits",'
            b' "version": "v1", "jobId": "j", "sourceStore": "s", "by": "x", "at": "t", "url": "u"}]}',
            "[0]: env: String should match pattern",
        ),
    ],
)
def test_a_corrupt_promotion_log_is_reported_and_never_overwritten(repo, capsys, content, message):
    log = repo / "vault" / "digits" / "promotions.json"
    log.parent.mkdir(parents=True)
    log.write_bytes(content)
    capsys.readouterr()
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod") == 1
    assert message in capsys.readouterr().err
    assert log.read_bytes() == content
    assert not (repo / "vault" / "digits" / "envs").exists()  # refused before anything was copied
    assert mlci(repo, "versions", "digits", "--env", "prod") == 1
    assert message in capsys.readouterr().err
    assert log.read_bytes() == content


def test_outputs_changed_in_the_store_after_publishing_are_not_promoted(repo, capsys):
    (repo / "shelf" / "digits" / "job-b" / "model.bin").write_bytes(b"tampered")
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod") == 1
    assert "is not what was published" in capsys.readouterr().err
    assert not (repo / "vault" / "digits" / "envs" / "prod" / "v2").exists()
    assert not (repo / "vault" / "digits" / "promotions.json").exists()
    assert list((repo / "vault" / "digits" / "envs" / "prod").iterdir()) == []  # no staging left behind
