"""`mlci run` refuses a bad --max-attempts as a usage error (exit 2) before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.cli import main
from mlci.manifest.project import max_attempts_option


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    (project / "Dockerfile").write_text("FROM scratch\n")
    (project / "project.yaml").write_text("retrain: {max_attempts: 2}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("value", ["0", "21", "-1", "two", "3; reboot", "", "1.5", "²", "9" * 5000])
def test_a_bad_max_attempts_is_a_usage_error_that_runs_nothing(repo, capsys, value):
    assert main(["--root", str(repo), "run", "p", "--max-attempts", value, "--job-id", "j"]) == 2
    err = capsys.readouterr().err
    assert "--max-attempts" in err and "is not a whole number from 1 to 20" in err
    assert not (repo / ".mlci" / "runs").exists()


@pytest.mark.parametrize(("value", "want"), [(None, None), ("1", 1), (" 3 ", 3), ("20", 20), ("007", 7)])
def test_max_attempts_values_within_the_schema_bounds(value, want):
    assert max_attempts_option(value) == want
