"""A release in a large monorepo: a generated repository of N projects (shared library paths,
`depends_on` chains) where the release range touches one project.

    .venv/bin/python bench/scale_bench.py [--projects 100] [--growth 100,300,1000] [--repeat 5]

Checks that `mlci plan` selects exactly the affected set (against a brute-force answer that compares
Git tree ids of every path each project watches, independently of mlci's diff), that the image step
over the plan rebuilds exactly the changed project (the others are content-hash cache hits), times
`mlci plan` (target ≤ 1 s at 100 projects) against the process start-up floor (`mlci --version`),
and reports how plan time grows from 100 to 1,000 projects (target: linear or better).
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
LIBS = 10
CHAIN = 10  # projects come in chains: model-(10k+j) depends on model-(10k+j-1)'s directory
TOUCHED = 42  # the project the release changes; smaller repos (the quick mode) use touched(n)


def touched(projects: int) -> int:
    """A project in the middle of a chain (another depends on it), 42 where there are enough."""
    return min(TOUCHED, projects // 2 + 2)


DOCKERFILE = "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nWORKDIR /app\nCOPY . .\n"
ALWAYS = ("mlci.yaml", "jenkins/library", "Jenkinsfile")


def git(root: Path, *args: str, stdin: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    return subprocess.run(
        ["git", *args], cwd=root, input=stdin, capture_output=True, text=True, check=True, env=env
    ).stdout


def depends_on(i: int) -> list[str]:
    deps = [f"libs/lib-{i % LIBS:02d}", "libs/common/proto"]
    if i % CHAIN:
        deps.append(f"projects/model-{i - 1:04d}")
    return deps


def make_monorepo(root: Path, projects: int, base_image: str) -> tuple[str, str]:
    """Commit the repository (base), then change one project's source (head); return both shas."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "mlci.yaml").write_text(f"version: 1\nname: scale\nbuild: {{base_image: '{base_image}'}}\n")
    for k in range(LIBS):
        (root / "libs" / f"lib-{k:02d}").mkdir(parents=True)
        (root / "libs" / f"lib-{k:02d}" / "util.py").write_text(f"K = {k}\n")
    (root / "libs/common/proto").mkdir(parents=True)
    (root / "libs/common/proto/schema.py").write_text("SCHEMA = 1\n")
    (root / "libs/common/README.md").write_text("not watched by anyone\n")
    for i in range(projects):
        project = root / "projects" / f"model-{i:04d}"
        (project / "src").mkdir(parents=True)
        deps = ", ".join(depends_on(i))
        (project / "project.yaml").write_text(f"gpus: 1\ndepends_on: [{deps}]\ngate: {{metric: accuracy, min: 0.9}}\n")
        (project / "Dockerfile").write_text(DOCKERFILE)
        (project / "config.yaml").write_text(f"seed: {i}\n")
        (project / "src" / "train.py").write_text(f"print('model {i}')\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    base = git(root, "rev-parse", "HEAD").strip()
    (root / "projects" / f"model-{touched(projects):04d}" / "src" / "train.py").write_text("print('changed')\n")
    (root / "libs/common/README.md").write_text("edited; watched by no project\n")
    git(root, "commit", "-qam", "release")
    return base, git(root, "rev-parse", "HEAD").strip()


def brute_force(root: Path, base: str, head: str, projects: int) -> list[str]:
    """Affected = some path the project watches has a different Git object id at base and head."""
    watched = {f"model-{i:04d}": [f"projects/model-{i:04d}", *depends_on(i), *ALWAYS] for i in range(projects)}
    paths = sorted({p for ps in watched.values() for p in ps})
    query = "".join(f"{rev}:{p}\n" for rev in (base, head) for p in paths)
    lines = [  # a path absent at a commit reads "<rev>:<path> missing"
        "missing" if line.endswith(" missing") else line
        for line in git(root, "cat-file", "--batch-check=%(objectname)", stdin=query).splitlines()
    ]
    ids = dict(zip([(rev, p) for rev in (base, head) for p in paths], lines, strict=True))
    return sorted(name for name, ps in watched.items() if any(ids[(base, p)] != ids[(head, p)] for p in ps))


def timed(cmd: list[str], root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=root, capture_output=True, check=True)
    return time.perf_counter() - started


def plan_seconds(root: Path, base: str, head: str, repeat: int) -> tuple[float, list[str]]:
    cmd = [*MLCI, "--root", str(root), "plan", "--base", base, "--head", head, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    names = [p["name"] for p in json.loads(out)["projects"]]
    return statistics.median(timed(cmd, root) for _ in range(repeat)), names


def image_step(root: Path, names: list[str], base_image: str) -> dict[str, bool]:
    """mlci's build step for each project: {name: cache_hit}."""
    from mlci.runner.engine import connect
    from mlci.runner.image import build_image

    client = connect()
    return {
        name: build_image(
            client,
            project=name,
            context=root / "projects" / name,
            base_image=base_image,
            network="default",
            build_args={},
            no_cache=False,
            log=lambda _: None,
        ).cache_hit
        for name in names
    }


def run(projects: int, growth: list[int], repeat: int, base_image: str) -> dict:
    from mlci.runner.engine import connect
    from mlci.runner.image import context_hash

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="mlci-scale-bench-") as tmp:
        root = Path(tmp) / f"repo-{projects}"
        base, head = make_monorepo(root, projects, base_image)
        seconds, planned = plan_seconds(root, base, head, repeat)
        expected = brute_force(root, base, head, projects)
        startup = statistics.median(timed([*MLCI, "--version"], root) for _ in range(repeat))
        # the image step over the plan: build each planned project at base, then again at head
        tags = []
        git(root, "checkout", "-q", base)
        before = image_step(root, planned, base_image)
        git(root, "checkout", "-q", head)
        after = image_step(root, planned, base_image)
        client = connect()
        base_id = client.images.get(base_image).id
        args = {"BASE_IMAGE": base_image}
        hashes_head = {p.name: context_hash(p, base_id, args) for p in sorted((root / "projects").iterdir())}
        git(root, "checkout", "-q", base)
        hashes_base = {p.name: context_hash(p, base_id, args) for p in sorted((root / "projects").iterdir())}
        git(root, "checkout", "-q", head)
        for name in planned:  # the bench's own images: remove them
            for image in client.images.list(name=f"mlci/{name}"):
                tags.extend(image.tags)
        for tag in tags:
            client.images.remove(tag, force=True)
        results["plan"] = {
            "projects": projects,
            "planned": planned,
            "brute_force": expected,
            "exact": planned == expected,
            "plan_s": seconds,
            "startup_s": startup,
            "ratio": seconds / startup,
            "target_s": 1.0,
            "built_at_head": sorted(n for n, hit in after.items() if not hit),
            "cache_hits_at_head": sorted(n for n, hit in after.items() if hit),
            "built_at_base": sorted(n for n, hit in before.items() if not hit),
            "contexts_changed_of_all": sorted(n for n in hashes_head if hashes_head[n] != hashes_base[n]),
        }
        curve = []
        for n in growth:
            groot = Path(tmp) / f"growth-{n}"
            gbase, ghead = make_monorepo(groot, n, base_image)
            s, names = plan_seconds(groot, gbase, ghead, repeat)
            assert names == brute_force(groot, gbase, ghead, n), f"plan differs from brute force at {n} projects"
            curve.append({"projects": n, "plan_s": s, "above_startup_s": max(s - startup, 1e-6)})
        results["growth"] = curve
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--growth", default="100,300,1000")
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()
    from mlci.manifest import load_manifest

    base_image = load_manifest(Path(__file__).resolve().parents[1]).build.base_image
    results = run(opts.projects, [int(n) for n in opts.growth.split(",")], opts.repeat, base_image)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
