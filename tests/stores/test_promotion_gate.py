"""Integration-test verdicts (`record_itest`) and `after:` — prod takes only what is current in qa and
passed its integration test there; `mlci versions --env` shows the verdicts; a hostile verdict or a
corrupt itest log is refused, and the log is never written over."""

from __future__ import annotations

import json

import pytest

from mlci.cli import main
from mlci.errors import MlciError, UsageError
from mlci.manifest import load_manifest
from mlci.publish.promotion import record_itest
from mlci.publish.promotion_log import MAX_DETAIL
from tests.stores.promotion_support import publish_versions

MANIFEST = """version: 1
name: t
artifacts:
  default: shelf
  stores:
    shelf: {type: local, path: shelf}
    other: {type: local, path: other}
    vault: {type: local, path: vault}
environments:
  qa: {store: shelf}
  prod: {store: vault, after: qa}
"""


@pytest.fixture
def repo(tmp_path, make_run, monkeypatch):
    (tmp_path / "mlci.yaml").write_text(MANIFEST)
    monkeypatch.setenv("MLCI_USER", "carol")
    monkeypatch.delenv("MLCI_PROMOTE_APPROVED", raising=False)
    publish_versions(tmp_path, make_run, 2)
    return tmp_path


def mlci(repo, *args: str) -> int:
    return main(["--root", str(repo), *args])


def itest(repo, version: str, passed: bool, *, detail: str = "", job: str | None = "itest-7", env: str = "qa"):
    record_itest(repo, load_manifest(repo), "digits", env, version, passed=passed, by="ci", job=job, detail=detail)


def prod_state(repo) -> list[str]:
    """What prod's store holds: every path, and every file's content."""
    prod = repo / "vault" / "digits"
    files = sorted(prod.rglob("*")) if prod.exists() else []
    return [f"{p.relative_to(prod)} {p.read_bytes() if p.is_file() else ''}" for p in files]


def refused(repo, capsys, version: str, fragment: str) -> None:
    before = prod_state(repo)
    capsys.readouterr()
    assert mlci(repo, "promote", "digits", version, "--to", "prod") == 2
    err = capsys.readouterr().err
    assert "refusing to promote" in err and fragment in err, err
    assert prod_state(repo) == before  # nothing copied, nothing logged


def test_prod_takes_only_what_is_current_in_qa_and_passed_its_itest_there(repo, capsys):
    refused(repo, capsys, "v2", "nothing of digits was promoted to qa")
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    refused(repo, capsys, "v2", "v2 has no verdict in qa yet")

    itest(repo, "v2", False, detail="POST /predict: 500\nTraceback ...")
    refused(repo, capsys, "v2", "v2's newest test in qa failed (")
    refused(repo, capsys, "v2", "job itest-7): POST /predict: 500")

    itest(repo, "v2", True, detail="12 checks passed")
    refused(repo, capsys, "v1", "current in qa, which is v2")
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod") == 0
    assert (repo / "vault" / "digits" / "envs" / "prod" / "v2" / "model.bin").read_bytes() == b"weights-2"

    itest(repo, "v2", False, detail="flaky again")  # the newest verdict decides
    assert mlci(repo, "promote", "digits", "v1", "--to", "qa") == 0
    refused(repo, capsys, "v1", "v1 has no verdict in qa yet")  # v1 was never in prod: the gate applies
    itest(repo, "v1", True)
    assert mlci(repo, "promote", "digits", "v1", "--to", "prod") == 0
    # rolling back to what prod ran before does not wait for qa (v2's newest verdict there failed)
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod") == 0
    assert (repo / "vault" / "digits" / "envs" / "prod" / "current").resolve().name == "v2"


def test_a_version_from_another_job_under_a_known_name_is_not_a_rollback(repo, capsys):
    """Only the same job and content that ran in prod skips the gate, not a version name."""
    assert mlci(repo, "promote", "digits", "v1", "--to", "qa") == 0
    itest(repo, "v1", True)
    assert mlci(repo, "promote", "digits", "v1", "--to", "prod") == 0
    assert mlci(repo, "publish", "digits", "job-2", "--store", "other") == 0  # other's v1 is job-2
    capsys.readouterr()
    assert mlci(repo, "promote", "digits", "v1", "--to", "prod", "--store", "other") == 2
    assert "refusing to promote" in capsys.readouterr().err


def test_the_same_version_name_from_another_store_is_not_what_qa_runs(repo, capsys):
    assert mlci(repo, "publish", "digits", "job-2", "--store", "other") == 0  # other's v1 is job-2
    assert mlci(repo, "promote", "digits", "v1", "--to", "qa") == 0  # shelf's v1: job-1
    itest(repo, "v1", True)
    capsys.readouterr()
    assert mlci(repo, "promote", "digits", "v1", "--to", "prod", "--store", "other") == 2
    err = capsys.readouterr().err
    assert "qa's v1 is job job-1 from store 'shelf', not job job-2 from store 'other'" in err
    assert "--store shelf" in err


def test_versions_env_shows_the_itest_verdicts(repo, capsys):
    assert mlci(repo, "promote", "digits", "v1", "--to", "qa") == 0
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    itest(repo, "v1", True, detail="\n\nall green")
    itest(repo, "v2", False, job=None, detail="")
    capsys.readouterr()
    assert mlci(repo, "versions", "digits", "--env", "qa") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "digits in qa: v2 (job job-2, promoted by carol; itest FAILED)"
    at = lines.index("") + 1
    assert lines[at].split()[:6] == ["TESTED", "VERSION", "ITEST", "BY", "JOB", "DETAIL"]
    assert lines[at + 1].split()[2:] == ["v2", "FAIL", "ci", "-", "-"]
    assert lines[at + 2].split()[2:] == ["v1", "pass", "ci", "itest-7", "all", "green"]

    assert mlci(repo, "versions", "digits", "--env", "qa", "--json") == 0
    got = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["passed"], v["job"]) for v in got["itests"]] == [
        ("v2", False, None),
        ("v1", True, "itest-7"),
    ]
    log = json.loads((repo / "shelf" / "digits" / "itests.json").read_text())
    assert log["schemaVersion"] == 1 and [v["version"] for v in log["itests"]] == ["v1", "v2"]
    assert mlci(repo, "versions", "digits", "--env", "prod", "--json") == 0
    assert json.loads(capsys.readouterr().out)["itests"] == []


def test_a_verdict_is_cleaned_bounded_and_redacted(repo, monkeypatch):
    from mlci import secrets

    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    secrets.remember("hunter2-secret-value")
    itest(repo, "v2", True, detail="token=hunter2-secret-value\x1b[31m red\x00" + "x" * 5000)
    verdict = json.loads((repo / "shelf" / "digits" / "itests.json").read_text())["itests"][0]
    assert "hunter2" not in verdict["detail"] and "\x1b" not in verdict["detail"] and "\x00" not in verdict["detail"]
    assert len(verdict["detail"]) == MAX_DETAIL and verdict["detail"].endswith("…")
    assert (verdict["by"], verdict["job"], verdict["passed"]) == ("ci", "itest-7", True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"version": "v1"}, "digits v1 was never promoted to qa"),
        ({"version": "v2\n"}, "is not a model version"),
        ({"job": "a b"}, "is not a job name"),
        ({"job": "x\n"}, "is not a job name"),
        ({"by": "a;b"}, "is not a user name"),
        ({"env": "staging"}, "no environment 'staging'"),
        ({"passed": "yes"}, "passed or failed"),
    ],
)
def test_a_bad_verdict_is_refused_and_nothing_is_written(repo, kwargs, message):
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    args = {"version": "v2", "passed": True, "by": "ci", "job": "j", "detail": "", "env": "qa", **kwargs}
    version, env = args.pop("version"), args.pop("env")
    with pytest.raises(UsageError, match=message.replace("\n", "")):
        record_itest(repo, load_manifest(repo), "digits", env, version, **args)
    assert not (repo / "shelf" / "digits" / "itests.json").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"schemaVersion": 1, "project": "digits", "itests": [', "itest log"),
        (b'{"schemaVersion": 2, "project": "digits", "itests": []}', "written by a newer mlci"),
        (b'{"schemaVersion": 1, "project": "digits", "itests": [{"env": "qa"}]}', "[0]: project: Field required"),
    ],
)
def test_a_corrupt_itest_log_is_reported_and_never_overwritten(repo, capsys, content, message):
    assert mlci(repo, "promote", "digits", "v2", "--to", "qa") == 0
    log = repo / "shelf" / "digits" / "itests.json"
    log.write_bytes(content)
    with pytest.raises(MlciError, match=message.replace("[", r"\[")):
        itest(repo, "v2", True)
    capsys.readouterr()
    assert mlci(repo, "promote", "digits", "v2", "--to", "prod") == 1
    assert message in capsys.readouterr().err
    assert mlci(repo, "versions", "digits", "--env", "qa") == 1
    assert log.read_bytes() == content
    assert not (repo / "vault" / "digits").exists()
