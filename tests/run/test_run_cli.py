"""`mlci run`'s arguments as Jenkins' mlci-experiment job passes them: the experiment name, the
project and the overrides file are checked before Docker is contacted; a hostile one exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.cli import main
from mlci.commands import run as run_command


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: t\n")
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    (project / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    (project / "config.yaml").write_text("lr: 0.1\nname: a\n")
    (project / "project.yaml").write_text(
        "stages:\n  - {name: train, run: ./run.sh}\ngate: {metric: accuracy, min: 0.9}\n"
    )
    return tmp_path


@pytest.fixture
def started(monkeypatch) -> list:
    """What would have run: the options handed on (nothing contacts Docker here)."""
    seen: list = []
    monkeypatch.setattr(run_command, "run_and_report", lambda ctx, root, manifest, spec, options: seen.append(options))
    return seen


def run(repo: Path, *args: str) -> int:
    return main(["--root", str(repo), "run", *args])


def test_overrides_from_a_file_then_set_reach_the_run_as_values(repo, started, tmp_path):
    overrides = tmp_path / "overrides.txt"
    overrides.write_text("lr=0.01\r\nname=$(touch /tmp/pwned);`id`\r\n")
    assert run(repo, "p", "--experiment", "sweep-1", "--set-file", str(overrides), "--set", "lr=0.5") == 0
    (options,) = started
    assert options.experiment == "sweep-1"
    assert [(o.key, o.value) for o in options.overrides] == [("name", "$(touch /tmp/pwned);`id`"), ("lr", 0.5)]


@pytest.mark.parametrize(
    "args, message",
    [
        (("p", "--experiment", "'; rm -rf / #"), 'experiment name "\'; rm -rf / #" is not valid'),
        (("p", "--experiment", "a\nb"), "is not valid"),
        (("p", "--experiment", "$(id)"), "is not valid"),
        (("p'; rm -rf / #", "--experiment", "e"), "is not a valid project name"),
        (("$(id)", "--experiment", "e"), "is not a valid project name"),
        (("p", "--set", "lr=0.2"), "--set needs --experiment NAME"),
        (("p", "--experiment", "e", "--set", "x;y=1"), "is not key=value"),
    ],
)
def test_hostile_names_and_overrides_exit_2_before_anything_runs(repo, started, capsys, args, message):
    assert run(repo, *args) == 2
    assert message in capsys.readouterr().err
    assert started == []


def test_a_bad_line_in_the_set_file_exits_2(repo, started, tmp_path, capsys):
    overrides = tmp_path / "overrides.txt"
    overrides.write_text("lr=0.01\n'; rm -rf / #\n")
    assert run(repo, "p", "--experiment", "e", "--set-file", str(overrides)) == 2
    assert "line 2" in capsys.readouterr().err
    assert started == []
