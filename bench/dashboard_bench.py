"""Benchmark of the dashboard over 1,000 run records: the overview, a run page and a project's plots.

    .venv/bin/python bench/dashboard_bench.py [--records 1000] [--projects 10] [--repeat 20]

Records are made through the record's transitions (tests/record_support.py); the real app is
served by uvicorn on 127.0.0.1 and asked over HTTP, as a browser does. Reports the median answer
time of each page with the records unchanged since the last answer (the usual case: the page is
reloaded, a run is followed), and the first answer after one record changed (its project's
records read again). The baseline, measured in the same run: reading the same status.json files with
json.loads alone. Target: every page under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET_S = 0.3


def read_json_alone(root: Path) -> float:
    started = time.perf_counter()
    for path in (root / ".mlci" / "runs").glob("*/*/status.json"):
        json.loads(path.read_bytes())
    return time.perf_counter() - started


def fetch(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=20)
    opts = parser.parse_args()
    import uvicorn

    from mlci.web.app import Settings, create_app
    from tests.record_support import finished_run

    os.environ.pop("MLCI_RUNS_DIR", None)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mlci-dashboard-bench-") as tmp:
        root = Path(tmp)
        for i in range(opts.records):
            project = f"bench-{i % opts.projects}"
            finished_run(root, project, f"run-{i:05d}", values=(0.8 + (i % 20) / 100,), files={"m": b"x"})
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(Settings(root=root)), log_level="warning"))
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        baseline = statistics.median(read_json_alone(root) for _ in range(opts.repeat))
        pages = {"overview": "/", "run page": f"/r/bench-{1 % opts.projects}/run-00001", "plots": "/p/bench-0"}
        for name, path in pages.items():
            fetch(base + path)  # warm
            warm = statistics.median(fetch(base + path) for _ in range(opts.repeat))
            cold = []
            for _ in range(max(3, opts.repeat // 5)):
                (root / ".mlci" / "runs" / "bench-0" / "run-00000" / "status.json").touch()  # a record changed
                cold.append(fetch(base + path))
            results[name] = {
                "median_s": round(warm, 4),
                "after_a_change_s": round(statistics.median(cold), 4),
                "ratio_to_json_alone": round(warm / baseline, 2),
            }
        server.should_exit = True
    print(
        f"dashboard: {opts.records} records in {opts.projects} projects; baseline json.loads of every status.json {baseline * 1000:.1f} ms"
    )
    for name, r in results.items():
        verdict = "ok" if r["median_s"] < TARGET_S else f"over the {TARGET_S * 1000:.0f} ms target"
        print(
            f"  {name:10s} {r['median_s'] * 1000:7.1f} ms (×{r['ratio_to_json_alone']} json alone)"
            f"   after a record changed {r['after_a_change_s'] * 1000:7.1f} ms   {verdict}"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard.json").write_text(json.dumps({"baseline_s": round(baseline, 4), **results}, indent=2) + "\n")
    return 0 if all(r["median_s"] < TARGET_S for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
