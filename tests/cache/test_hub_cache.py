"""Two runs of one project at once on one host share its cache without corrupting it: the real
huggingface_hub, in two stage containers, downloads from a strict Hub double (bench/hub_double.py,
inside each container on 127.0.0.1); its own file lock in the shared HF_HOME makes the second wait
and reuse the first's blob, so the file is served exactly once and both stages read it whole."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from mlci.runner.image import build_image
from tests.conftest import REPO, commit_all

sys.path.insert(0, str(REPO / "bench"))
import hubkit

SIZE = 20_000_000
# Both stages wait for each other in the shared cache, then download at 10 MB/s: the downloads overlap.
STAGES = """\
gpus: none
stages:
  - name: fetch
    run: >-
      touch /mlci/cache/xdg/ready-$MLCI_JOB_ID &&
      for i in $(seq 1 600); do [ $(ls /mlci/cache/xdg | grep -c ready-) -ge 2 ] && break; sleep 0.1; done &&
      HUB_RATE=10000000 python3 /app/hf_stage.py
"""


def test_concurrent_runs_download_once_through_the_libraries_lock(monorepo, base_image, docker_client):
    project = hubkit.write_project(monorepo, "hubshare", SIZE, stage_yaml=STAGES)
    commit_all(monorepo)
    # build once up front, so both runs start their stage together (a cache hit each)
    built = build_image(
        docker_client,
        project="hubshare",
        context=project,
        base_image=base_image,
        network="default",
        build_args={},
        no_cache=False,
        log=lambda _: None,
    )
    env = {**os.environ, "MLCI_ROOT": str(monorepo)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlci", "run", "hubshare", "--job-id", job, "-q"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for job in ("a", "b")
    ]
    try:
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        reports = [
            json.loads((monorepo / f".mlci/runs/hubshare/{job}/attempt-1/out/hf.json").read_text()) for job in "ab"
        ]
        assert sum(r["served"]["bytes"] for r in reports) == SIZE  # downloaded once in all
        assert sorted(r["served"]["gets"] for r in reports) == [0, 1]
        assert all(r["size"] == SIZE for r in reports)
        blobs = list((Path(os.environ["MLCI_CACHE_DIR"]) / "projects/hubshare/huggingface/hub").glob("*/blobs/*"))
        assert len(blobs) == 1 and not blobs[0].name.endswith(".incomplete")
        digest = hashlib.sha256(blobs[0].read_bytes()).hexdigest()
        assert digest == blobs[0].name == _etag(SIZE)
    finally:
        for run in runs:
            run.kill()
        docker_client.images.remove(built.tag, force=True)


def test_the_hub_double_is_strict_and_counts_what_it_serves(tmp_path):
    import socket
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    count = tmp_path / "served.json"
    double = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "bench/hub_double.py"),
            "--port",
            str(port),
            "--size",
            "3000000",
            "--count-file",
            str(count),
        ]
    )
    base = f"http://127.0.0.1:{port}"

    def status(path: str, method: str = "HEAD", headers: dict | None = None) -> tuple[int, str | None]:
        request = urllib.request.Request(base + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                return response.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("X-Error-Code")

    try:
        for _ in range(100):
            try:
                status("/")
                break
            except OSError:
                time.sleep(0.05)
        ok = "/mlci-bench/base-model/resolve/main/model.bin"
        assert status("/other/model/resolve/main/model.bin") == (401, "RepositoryNotFound")
        assert status("/mlci-bench/base-model/resolve/v9/model.bin") == (404, "RevisionNotFound")
        assert status("/mlci-bench/base-model/resolve/main/other.bin") == (404, "EntryNotFound")
        assert status(ok, "POST") == (405, "MethodNotAllowed")
        assert status(ok, "GET", {"Range": "bytes=9999999-"}) == (416, "RangeNotSatisfiable")
        assert status(ok, "GET", {"Range": "bytes=1000-"}) == (206, None)
        assert json.loads(count.read_text()) == {"bytes": 3_000_000 - 1000, "gets": 1}

        from huggingface_hub import hf_hub_download

        path = hf_hub_download("mlci-bench/base-model", "model.bin", cache_dir=tmp_path / "hf", endpoint=base)
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == _etag(3_000_000)
        assert json.loads(count.read_text())["bytes"] == 2 * 3_000_000 - 1000
    finally:
        double.kill()
        double.wait()


def _etag(size: int) -> str:
    from hub_double import content_sha256

    return content_sha256(size)
