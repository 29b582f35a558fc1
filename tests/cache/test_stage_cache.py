"""The per-project cache as stages see it, with the real engine: library caches point into
/mlci/cache, what one run leaves there the next run finds, projects do not share, and a prune
leaves a running stage's cache alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import commit_all, mlci, write_project

PROBE = """\
    import json, os, pathlib
    hf = pathlib.Path(os.environ["HF_HOME"])
    before = sorted(p.name for p in hf.iterdir())
    (hf / os.environ["MLCI_JOB_ID"]).write_text("downloaded once")
    env = {k: os.environ.get(k) for k in ("HF_HOME", "PIP_CACHE_DIR", "TORCH_HOME", "XDG_CACHE_HOME")}
    json.dump({"env": env, "before": before}, open(os.environ["MLCI_OUTPUT_DIR"] + "/probe.json", "w"))
"""


def _probe(root: Path, project: str, job: str) -> dict:
    return json.loads((root / ".mlci/runs" / project / job / "attempt-1/out/probe.json").read_text())


def test_library_caches_persist_per_project_across_runs(monorepo, base_image):
    for name in ("alpha", "beta"):
        write_project(
            monorepo, name, "gpus: none\nstages: [{name: fetch, run: python probe.py}]\n", files={"probe.py": PROBE}
        )
    commit_all(monorepo)
    cache_root = Path(os.environ["MLCI_CACHE_DIR"])

    first = mlci(monorepo, "run", "alpha", "--job-id", "one")
    assert first.returncode == 0, first.stderr
    probe = _probe(monorepo, "alpha", "one")
    assert probe["env"] == {
        "HF_HOME": "/mlci/cache/huggingface",
        "PIP_CACHE_DIR": "/mlci/cache/pip",
        "TORCH_HOME": "/mlci/cache/torch",
        "XDG_CACHE_HOME": "/mlci/cache/xdg",
    }
    assert probe["before"] == []
    assert (cache_root / "projects/alpha/huggingface/one").read_text() == "downloaded once"

    second = mlci(monorepo, "run", "alpha", "--job-id", "two")
    assert second.returncode == 0, second.stderr
    assert _probe(monorepo, "alpha", "two")["before"] == ["one"]  # the earlier run's download is there

    other = mlci(monorepo, "run", "beta", "--job-id", "one")
    assert other.returncode == 0, other.stderr
    assert _probe(monorepo, "beta", "one")["before"] == []  # projects do not share a cache


def test_prune_keeps_the_cache_of_a_running_stage(monorepo, base_image, tmp_path):
    write_project(
        monorepo,
        "slow",
        """\
        gpus: none
        stages: [{name: train, run: 'echo kept > $HF_HOME/model && touch /mlci/out/started && sleep 600'}]
    """,
    )
    commit_all(monorepo)
    cache_root = Path(os.environ["MLCI_CACHE_DIR"])
    env = {**os.environ, "MLCI_ROOT": str(monorepo)}
    run = subprocess.Popen(
        [sys.executable, "-m", "mlci", "run", "slow", "--job-id", "busy", "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = monorepo / ".mlci/runs/slow/busy/attempt-1/out/started"
        deadline = time.monotonic() + 120
        while not started.exists():
            assert run.poll() is None and time.monotonic() < deadline, "the stage never started"
            time.sleep(0.2)
        listing = json.loads(mlci(monorepo, "cache", "ls", "--json").stdout)
        assert [(c["project"], c["inUse"]) for c in listing["caches"]] == [("slow", True)]
        pruned = mlci(monorepo, "cache", "prune", "--max-size", "0")
        assert pruned.returncode == 0 and "kept slow: a stage is using it" in pruned.stdout
        assert (cache_root / "projects/slow/huggingface/model").read_text() == "kept\n"
    finally:
        run.terminate()
        run.wait(60)
    pruned = mlci(monorepo, "cache", "prune", "--max-size", "0")
    assert "removed slow" in pruned.stdout and not (cache_root / "projects/slow").exists()
