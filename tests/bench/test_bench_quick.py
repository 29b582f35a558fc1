"""The README's benchmark command keeps working: `bench/all.py --quick` runs every benchmark through
the same code paths as the full run, at small sizes. Its figures are printed, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.docker

BENCHMARKS = (
    "run overhead:",
    "unchanged project:",
    "a stage printing 2 MB:",
    "the same: mlci's peak RSS",
    "`mlci render` of 20 projects on 2 hosts",
    "stage downloading 2 MB with huggingface_hub, second run vs first (cache empty), at the double's",
    "stage downloading 2 MB with huggingface_hub, second run vs first (cache empty), over a",
    "`mlci plan`, 20 projects, release touching one",
    "`mlci plan` growth 20 → 40 projects",
    "3 no-op stages:",
)


def test_quick_benchmark_runs_every_benchmark_with_its_baseline(base_image):
    done = subprocess.run(
        [sys.executable, "bench/all.py", "--quick"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")  # the figures, for whoever reads the log
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((REPO / "bench/results/all-quick.json").read_text())["rows"]
    assert [next(b for b in BENCHMARKS if r["benchmark"].startswith(b)) for r in rows] == list(BENCHMARKS)
    for r in rows:
        assert r["mlci"], r
        assert r["benchmark"] in done.stdout
    # every ratio compares against a baseline measured in this run
    assert all(
        r["baseline"] and r["ratio"] for r in rows if not r["benchmark"].startswith(("the same", "`mlci render`"))
    )


def test_quick_figures_never_reach_the_readme():
    done = subprocess.run(
        [sys.executable, "bench/all.py", "--quick", "--readme"], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "never go into the README" in done.stderr
