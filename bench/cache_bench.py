"""Stage caches that survive runs: a project whose stage downloads 200 MB through the real
huggingface_hub from a local Hub double (bench/hub_double.py, in the stage's container on
127.0.0.1), run twice. Target: the second run downloads 0 bytes (counted by the double) and its
stage is ≥ 5× faster. Measured at the double's full local speed, and over a simulated 200 Mbit/s
link (25 MB/s), since the time a download takes is what the cache saves.

    .venv/bin/python bench/cache_bench.py [--bytes 200000000] [--link-rate 25000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hubkit

MLCI = [sys.executable, "-m", "mlci"]


def run(size: int, link_rate: int, base_image: str) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="mlci-cache-bench-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        (root / "mlci.yaml").write_text(f"version: 1\nname: bench\nbuild: {{base_image: '{base_image}'}}\n")
        cases = {"local": 0, "link": link_rate}
        for name, rate in cases.items():
            run_cmd = f"HUB_RATE={rate} python3 /app/hf_stage.py"
            hubkit.write_project(
                root, f"hub-{name}", size, f"gpus: none\nstages: [{{name: fetch, run: '{run_cmd}'}}]\n"
            )
        env = {**os.environ, "MLCI_ROOT": str(root), "MLCI_CACHE_DIR": str(Path(tmp) / "cache")}
        for name, rate in cases.items():
            project = f"hub-{name}"
            runs = []
            for job in ("first", "second"):
                subprocess.run([*MLCI, "run", project, "--job-id", job, "-q"], env=env, check=True, capture_output=True)
                record = json.loads((root / f".mlci/runs/{project}/{job}/status.json").read_text())
                report = json.loads((root / f".mlci/runs/{project}/{job}/attempt-1/out/hf.json").read_text())
                assert report["size"] == size, report
                runs.append(
                    {
                        "stage_s": record["attempts"][0]["stages"][0]["durationS"],
                        "download_s": report["download_s"],
                        "bytes_served": report["served"]["bytes"],
                    }
                )
            first, second = runs
            results[name] = {
                "rate_bytes_per_s": rate or None,
                "first": first,
                "second": second,
                "ratio": first["stage_s"] / second["stage_s"],
                "target_ratio": 5.0,
                "met": second["bytes_served"] == 0 and first["stage_s"] / second["stage_s"] >= 5.0,
            }
        for name in cases:
            for image in subprocess.run(
                ["docker", "images", "-q", f"mlci/hub-{name}"], capture_output=True, text=True, check=True
            ).stdout.split():
                subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)
    return {"bytes": size, **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=200_000_000)
    parser.add_argument("--link-rate", type=int, default=25_000_000)
    opts = parser.parse_args()
    from mlci.manifest import load_manifest

    base_image = load_manifest(Path(__file__).resolve().parents[1]).build.base_image
    print(json.dumps(run(opts.bytes, opts.link_rate, base_image), indent=2))


if __name__ == "__main__":
    main()
