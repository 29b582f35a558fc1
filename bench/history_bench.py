"""History and compare over 1,000 run records: `mlci history` and `mlci compare` (in process, the
same functions the commands call) against reading the records' JSON alone, measured in one run.

    .venv/bin/python bench/history_bench.py [--records 1000] [--repeat 5]

Target: both answer in under a second on a 2-core machine; the ratio shows what typing and
checking every record costs over json.loads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mlci.record.history import compare, history_row, select  # noqa: E402
from mlci.record.readers import find_job, iter_records  # noqa: E402
from tests.record_support import finished_run  # noqa: E402

RESULTS = HERE / "results"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) if repeat < 3 else statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in range(args.records):
            record = finished_run(
                root, "p", f"job-{n:05d}", values=(0.5 + n % 50 / 100,), extra_metrics={"loss": 1 / (n + 1)}
            )
            (record.dir / "config.yaml").write_text(f"model: {{lr: {n / 1000}, depth: 3}}\n")
        files = sorted((root / ".mlci" / "runs" / "p").glob("*/status.json"))

        def baseline() -> None:
            rows = [json.loads(f.read_text()) for f in files]
            rows.sort(key=lambda d: d["createdAt"], reverse=True)

        def history() -> None:
            records = select(
                list(iter_records(root, "p", everywhere=True)), experiment=None, metric="accuracy", limit=args.records
            )
            [history_row(r, "accuracy") for r in records]

        def compare_two() -> None:
            compare(find_job(root, "job-00001"), find_job(root, f"job-{args.records - 1:05d}"))

        base, hist, comp = best(baseline, args.repeat), best(history, args.repeat), best(compare_two, args.repeat)
    result = {
        "records": args.records,
        "json_only_s": base,
        "history_s": hist,
        "compare_s": comp,
        "history_ratio": hist / base,
        "compare_ratio": comp / base,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "history.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"history over {args.records} records: {hist:.3f} s vs json.loads alone {base:.3f} s ({hist / base:.2f}×); target < 1 s"
    )
    print(
        f"compare of two runs among {args.records}: {comp:.3f} s ({comp / base:.2f}× json.loads of all); target < 1 s"
    )


if __name__ == "__main__":
    main()
