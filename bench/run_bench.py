"""Benchmarks of `mlci run` against the plain Docker commands it wraps, measured in the same run.

    .venv/bin/python bench/run_bench.py [--repeat 5] [--bytes 200000000]

1. orchestration overhead: `mlci run` of a cached no-op project vs `docker run --rm IMAGE true`
   (target ≤ 1.15×);
2. unchanged project: mlci's build step (content-hash lookup) vs a fully cached `docker build`
   of the same context (target ≤ 0.5×);
3. a stage printing 200 MB: mlci's log throughput (target ≥ 50 MB/s) next to `docker run` writing
   the same bytes to /dev/null, and mlci's peak RSS (target ≤ 100 MB).
Figures are medians; ratios compare numbers taken seconds apart on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MLCI = [sys.executable, "-m", "mlci"]
OUTPUT_BYTES = 200 * 1000 * 1000
LINE = "0123456789abcdefghijklmnopqrstuvwxyz" * 4
DOCKERFILE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nWORKDIR /app\nCOPY . .\n"


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process, its output discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss


def median_of(repeat: int, cmd: list[str], env: dict | None = None) -> float:
    timed(cmd, env)  # warm-up
    return statistics.median(timed(cmd, env)[0] for _ in range(repeat))


def make_repo(base: Path, base_image: str, output_bytes: int) -> Path:
    root = base / "repo"
    (root / "projects").mkdir(parents=True)
    (root / "mlci.yaml").write_text(f"version: 1\nname: bench\nbuild: {{base_image: '{base_image}'}}\n")
    stages = {
        "noop": "gpus: none\nstages: [{name: train, run: 'true'}]\n",
        "chatty": f"gpus: none\nstages: [{{name: train, run: 'yes {LINE} | head -c {output_bytes}'}}]\n",
    }
    for name, project_yaml in stages.items():
        (root / "projects" / name).mkdir()
        (root / "projects" / name / "project.yaml").write_text(project_yaml)
        (root / "projects" / name / "Dockerfile").write_text(DOCKERFILE)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bytes", type=int, default=OUTPUT_BYTES, help="what the chatty stage prints")
    args = parser.parse_args()
    from mlci.manifest import load_manifest

    base_image = load_manifest(REPO).build.base_image
    work = Path(tempfile.mkdtemp(prefix="mlci-bench-"))
    env = {**os.environ, "MLCI_CACHE_DIR": str(work / "cache")}
    try:
        root = make_repo(work, base_image, args.bytes)
        env["MLCI_ROOT"] = str(root)
        results = {}

        # 1. orchestration overhead
        subprocess.run([*MLCI, "run", "noop", "-q"], env=env, check=True, capture_output=True)
        image = json.loads(
            subprocess.run(
                [*MLCI, "status", "noop", "--json"], env=env, capture_output=True, check=True, text=True
            ).stdout
        )[0]["imageUri"]
        mlci_run = median_of(args.repeat, [*MLCI, "run", "noop", "-q"], env)
        docker_run = median_of(args.repeat, ["docker", "run", "--rm", image, "true"])
        results["overhead"] = {
            "mlci_run_s": mlci_run,
            "docker_run_s": docker_run,
            "ratio": mlci_run / docker_run,
            "target": "<= 1.15",
        }

        # 2. unchanged project: mlci's build step vs a cached docker build
        context = root / "projects" / "noop"
        probe = (
            "import sys, time; from pathlib import Path; from mlci.runner.engine import connect;"
            " from mlci.runner.image import build_image; c = connect(); t = time.perf_counter();"
            f" build_image(c, project='noop', context=Path({str(context)!r}), base_image={base_image!r},"
            " network='default', build_args={}, no_cache=False, log=lambda s: None);"
            " print(time.perf_counter() - t)"
        )
        mlci_build = statistics.median(
            float(
                subprocess.run(
                    [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
                ).stdout
            )
            for _ in range(args.repeat)
        )
        docker_cmd = ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base_image}", str(context)]
        docker_build = median_of(args.repeat, docker_cmd)
        results["unchanged_build"] = {
            "mlci_build_s": mlci_build,
            "docker_build_cached_s": docker_build,
            "ratio": mlci_build / docker_build,
            "target": "<= 0.5",
        }

        # 3. 200 MB (--bytes) of stage output
        subprocess.run([*MLCI, "run", "chatty", "-q", "--job-id", "warm"], env=env, check=True, capture_output=True)
        wall, rss_kib = timed([*MLCI, "run", "chatty", "--job-id", "measured"], env)
        record = json.loads((root / ".mlci/runs/chatty/measured/status.json").read_text())
        stage_s = record["attempts"][0]["stages"][0]["durationS"]
        log_size = (root / ".mlci/runs/chatty/measured/attempt-1/train.log").stat().st_size
        assert log_size == args.bytes, log_size
        plain = median_of(1, ["docker", "run", "--rm", image, "sh", "-c", f"yes {LINE} | head -c {args.bytes}"])
        results["log_stream"] = {
            "bytes": args.bytes,
            "stage_s": stage_s,
            "mlci_mb_per_s": args.bytes / 1e6 / stage_s,
            "docker_run_to_devnull_mb_per_s": args.bytes / 1e6 / plain,
            "mlci_peak_rss_mb": rss_kib / 1024,
            "mlci_wall_s": wall,
            "target": ">= 50 MB/s, <= 100 MB RSS",
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = f"{args.bytes / 1e6:g} MB"
    print(f"{'benchmark':<34} {'mlci':>10} {'baseline':>10} {'ratio':>7}  target")
    o, b, s = results["overhead"], results["unchanged_build"], results["log_stream"]
    print(
        f"{'run overhead (cached no-op)':<34} {o['mlci_run_s']:>9.3f}s {o['docker_run_s']:>9.3f}s {o['ratio']:>6.2f}x  <= 1.15x"
    )
    print(
        f"{'unchanged project: build step':<34} {b['mlci_build_s']:>9.3f}s {b['docker_build_cached_s']:>9.3f}s"
        f" {b['ratio']:>6.2f}x  <= 0.5x"
    )
    print(
        f"{mb + ' stage output: throughput':<34} {s['mlci_mb_per_s']:>7.0f}MB/s {s['docker_run_to_devnull_mb_per_s']:>7.0f}MB/s"
        f" {s['mlci_mb_per_s'] / s['docker_run_to_devnull_mb_per_s']:>6.2f}x  >= 50 MB/s"
    )
    print(f"{mb + ' stage output: peak RSS':<34} {s['mlci_peak_rss_mb']:>8.0f}MB {'':>10} {'':>7}  <= 100 MB")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "run_bench.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
