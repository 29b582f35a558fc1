"""Benchmark of `mlci render` on a large monorepo: 500 projects, 8 GPU hosts (1 controller, 7 agents).

    .venv/bin/python bench/render_bench.py [--repeat 5] [--projects 500] [--hosts 8]

Times the whole command as a user runs it (a fresh process: start-up, manifest load, render,
write), for a first render into an empty tree, a no-op re-render and `--check`; reports the median
wall time and the peak RSS of the process. Target: under 2 s.
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

MLCI = [sys.executable, "-c", "from mlci.cli import run; run()"]
TARGET_S = 2.0


def make_repo(root: Path, projects: int, hosts: int) -> None:
    lines = [
        "version: 1",
        "name: bench",
        "repository: {url: https://github.com/acme/ml.git, credentials: GITHUB_TOKEN}",
        "hosts:",
        "  - {name: ctl, address: 10.0.0.1, gpus: 8, roles: [controller, agent]}",
    ]
    lines += [
        f"  - {{name: gpu-{i:02d}, address: 10.0.0.{i + 1}, gpus: 8, roles: [agent], labels: [a100]}}"
        for i in range(1, hosts)
    ]
    lines += [
        "jenkins: {url: https://ci.example.com/, executors: 4}",
        "webhook: {frp: {server: frps.example.com, custom_domain: hooks.example.com}}",
        "artifacts:",
        "  default: hub",
        "  stores:",
        "    hub: {type: huggingface, repo: acme/models, token: HF_TOKEN}",
        "    s3: {type: s3, bucket: ml-runs, access_key_id: AWS_ACCESS_KEY_ID, secret_access_key: AWS_SECRET_ACCESS_KEY}",
        "notifications: {slack: {webhook: SLACK_WEBHOOK_URL}}",
    ]
    (root / "mlci.yaml").write_text("\n".join(lines) + "\n")
    for i in range(projects):
        project = root / "projects" / f"model-{i:03d}"
        project.mkdir(parents=True)
        (project / "project.yaml").write_text("gpus: 1\ngate: {metric: accuracy, min: 0.9}\n")


def timed(args: list[str], root: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and exit code of one `mlci` process."""
    started = time.perf_counter()
    proc = subprocess.Popen([*MLCI, "--root", str(root), "render", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--hosts", type=int, default=8)
    opts = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mlci-render-bench-") as tmp:
        source = Path(tmp) / "repo"
        source.mkdir()
        make_repo(source, opts.projects, opts.hosts)
        cases = {"first render": [], "re-render (no change)": [], "--check": []}
        for i in range(opts.repeat):
            root = Path(tmp) / f"run-{i}"
            subprocess.run(["cp", "-r", str(source), str(root)], check=True)
            for case, args in (("first render", []), ("re-render (no change)", []), ("--check", ["--check"])):
                seconds, rss_kib, code = timed(args, root)
                if code != 0:
                    raise SystemExit(f"mlci render {' '.join(args)} exited {code}")
                cases[case].append((seconds, rss_kib))
        casc = (Path(tmp) / "run-0" / "jenkins" / "casc.yaml").stat().st_size
        for case, runs in cases.items():
            results[case] = {
                "median_s": round(statistics.median(s for s, _ in runs), 3),
                "peak_rss_mib": round(max(r for _, r in runs) / 1024, 1),
            }
    print(f"mlci render: {opts.projects} projects, {opts.hosts} hosts, {opts.repeat} runs each (casc.yaml {casc} B)")
    for case, r in results.items():
        verdict = "ok" if r["median_s"] < TARGET_S else f"over the {TARGET_S} s target"
        print(f"  {case:24s} {r['median_s']:6.3f} s   peak RSS {r['peak_rss_mib']:6.1f} MiB   {verdict}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "render.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["median_s"] < TARGET_S for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
