"""Golden error fixtures: every directory under errors/ is a monorepo whose `mlci validate` must
fail with exit 2 and print exactly expected.txt (found automatically; add a case by adding a
directory). MLCI_UPDATE_GOLDEN=1 rewrites expected.txt after a deliberate message change."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mlci.cli import main

CASES = Path(__file__).parent / "errors"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_validate_reports_exactly_the_expected_problems(case, tmp_path, capsys, monkeypatch):
    repo = tmp_path / case
    shutil.copytree(CASES / case, repo, ignore=shutil.ignore_patterns("expected.txt"))
    monkeypatch.chdir(repo)
    monkeypatch.delenv("MLCI_ROOT", raising=False)

    code = main(["validate"])
    out, err = capsys.readouterr()

    expected_file = CASES / case / "expected.txt"
    if os.environ.get("MLCI_UPDATE_GOLDEN"):
        expected_file.write_text(err)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err == expected_file.read_text()
    for line in err.splitlines():  # file:line:col: key.path: what — how
        assert line.count(":") >= 3 and " — " in line, line
