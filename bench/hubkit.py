"""A project whose stage downloads one file through the real huggingface_hub from the Hub double
(bench/hub_double.py) running inside the same container on 127.0.0.1 — no network, no registry.

huggingface_hub and its dependencies are copied from this interpreter's installation (the image's
Python is the same 3.11), so building the project needs no package index either."""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent

DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
WORKDIR /app
COPY . /app
ENV PYTHONPATH=/app/site HUB_BYTES={size} HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1
RUN python3 /app/hub_double.py --size {size} --compute-etag > /app/hub.etag
"""

STAGE = '''\
"""Start the Hub double, download its file with huggingface_hub into HF_HOME, report what it cost."""
import json, os, pathlib, subprocess, sys, time, urllib.request

port = 8765
served = pathlib.Path("/tmp/served.json")
double = subprocess.Popen([sys.executable, "/app/hub_double.py", "--port", str(port), "--size",
                           os.environ["HUB_BYTES"], "--count-file", str(served), "--etag-file", "/app/hub.etag",
                           "--rate", os.environ.get("HUB_RATE", "0")])
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
    except urllib.error.HTTPError:
        break  # it answers (404 for /)
    except OSError:
        time.sleep(0.02)
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{port}"
from huggingface_hub import hf_hub_download

started = time.perf_counter()
path = hf_hub_download("mlci-bench/base-model", "model.bin")
seconds = time.perf_counter() - started
double.terminate()
double.wait()
report = {"download_s": seconds, "served": json.loads(served.read_text()), "path": path,
          "size": os.path.getsize(path), "hf_home": os.environ.get("HF_HOME")}
json.dump(report, open(os.environ["MLCI_OUTPUT_DIR"] + "/hf.json", "w"))
print(json.dumps(report))
'''


def vendor(dest: Path, top: str = "huggingface_hub") -> list[str]:
    """Copy the installed distribution `top` and its runtime dependencies into `dest`."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo, seen = [top], set()
    while todo:
        name = todo.pop()
        if canonicalize_name(name) in seen:
            continue
        seen.add(canonicalize_name(name))
        dist = metadata.distribution(name)
        for rel in dist.files or []:
            if rel.parts[0] == ".." or "__pycache__" in rel.parts:
                continue
            source = Path(str(rel.locate()))
            if source.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / rel)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sorted(seen)


def write_project(root: Path, name: str, size: int, stage_yaml: str | None = None) -> Path:
    project = root / "projects" / name
    project.mkdir(parents=True)
    (project / "Dockerfile").write_text(DOCKERFILE.replace("{size}", str(size)))
    (project / "project.yaml").write_text(
        stage_yaml or "gpus: none\nstages: [{name: fetch, run: python3 /app/hf_stage.py}]\n"
    )
    (project / "hf_stage.py").write_text(STAGE)
    shutil.copy2(HERE / "hub_double.py", project / "hub_double.py")
    vendor(project / "site")
    return project
