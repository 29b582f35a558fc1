"""Many stages: `mlci run` of a cached project with 10 no-op stages against ten `docker run --rm
IMAGE true`, measured alternately in the same run (target ≤ 1.1×: mlci's start-up is paid once,
each stage costs what `docker run` costs).

    .venv/bin/python bench/stages_bench.py [--stages 10] [--repeat 5]

Where mlci's time goes beyond the engine's (timed in-process on this 2-core machine at a load of
about 6, wrapping the Docker SDK's API calls): the engine calls are the same as `docker run`'s
(create, attach, start, wait, remove); on a 10-stage run mlci's own time outside them is about
0.7 s, of which
- about 2.7 status.json rewrites per stage, each fsynced (about 14 ms each);
- every rewrite passing each string of the record through the secret masker, which re-reads the
  whole environment for every string (about 3,500 scans of os.environ per run);
- one container inspect per stage (about 7 ms), needed only to record a GPU request.
Fsyncing status.json only once the run is finished (the rename keeps every rewrite atomic for
readers), collecting the secret values once per rewrite, and inspecting only stages with a GPU
request bring it to about 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MLCI = [sys.executable, "-m", "mlci"]
DOCKERFILE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nWORKDIR /app\nCOPY . .\n"


def wall(cmd: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(stages: int, repeat: int, base_image: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlci-stages-bench-") as tmp:
        root = Path(tmp) / "repo"
        project = root / "projects" / "many"
        project.mkdir(parents=True)
        (root / "mlci.yaml").write_text(f"version: 1\nname: bench\nbuild: {{base_image: '{base_image}'}}\n")
        listed = "".join(f"  - {{name: s{i}, run: 'true'}}\n" for i in range(stages))
        (project / "project.yaml").write_text(f"gpus: none\nstages:\n{listed}")
        (project / "Dockerfile").write_text(DOCKERFILE)
        env = {**os.environ, "MLCI_ROOT": str(root), "MLCI_CACHE_DIR": str(Path(tmp) / "cache")}
        subprocess.run([*MLCI, "run", "many", "-q"], env=env, check=True, capture_output=True)  # build once
        runs = sorted((root / ".mlci/runs/many").iterdir())
        image = json.loads((runs[0] / "status.json").read_text())["build"]["imageUri"]
        mlci_s, docker_s = [], []
        for _ in range(repeat):  # alternate, so both see the same machine load
            mlci_s.append(wall([*MLCI, "run", "many", "-q"], env))
            started = time.perf_counter()
            for _ in range(stages):
                subprocess.run(["docker", "run", "--rm", image, "true"], check=True, capture_output=True)
            docker_s.append(time.perf_counter() - started)
        startup = statistics.median(wall([*MLCI, "--version"]) for _ in range(repeat))
        for info in subprocess.run(
            ["docker", "images", "-q", "mlci/many"], capture_output=True, text=True, check=True
        ).stdout.split():
            subprocess.run(["docker", "rmi", "-f", info], capture_output=True, check=False)
    m, d = statistics.median(mlci_s), statistics.median(docker_s)
    return {
        "stages": stages,
        "mlci_run_s": m,
        "docker_runs_s": d,
        "ratio": m / d,
        "per_stage_mlci_s": (m - startup) / stages,
        "per_stage_docker_s": d / stages,
        "mlci_startup_s": startup,
        "target_ratio": 1.1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    from mlci.manifest import load_manifest

    base_image = load_manifest(Path(__file__).resolve().parents[1]).build.base_image
    print(json.dumps(run(opts.stages, opts.repeat, base_image), indent=2))


if __name__ == "__main__":
    main()
