"""Hostile outputs on the real engine: whatever a stage leaves in /mlci/out, nothing from the host
reaches the artifact store, the run ends with a record that names the problem, and no stage output
makes mlci fail with an internal error."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import commit_all, mlci, write_project

pytestmark = pytest.mark.docker

PROJECT = """\
    gpus: none
    stages:
      - {{name: train, run: '{run}'}}
    gate: {{metric: accuracy, min: 0.5}}
"""
METRICS = 'echo {\\"accuracy\\": 1.0} > $MLCI_OUTPUT_DIR/metrics.json'


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, base_image, docker_client):
    """One monorepo and one image; each case rewrites the stage command and reruns that image."""
    import os

    root = tmp_path_factory.mktemp("hostile") / "repo"
    root.mkdir()
    (root / "mlci.yaml").write_text(
        "version: 1\nname: hostile\nartifacts:\n  default: local\n  stores:\n"
        "    local: {type: local, path: store}\nrunner: {max_output_size: 64m}\n"
    )
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    os.environ["MLCI_CACHE_DIR"] = str(root.parent / "cache")
    write_project(root, "h", PROJECT.format(run=METRICS), files={"config.yaml": "lr: 1\n"})
    commit_all(root)
    built = mlci(root, "run", "h", "--job-id", "build", "-q")
    assert built.returncode == 0, built.stderr
    image = json.loads((root / ".mlci/runs/h/build/status.json").read_text())["build"]["imageId"]
    return root, image


def run_case(hostile, job: str, script: str):
    root, image = hostile
    (root / "projects/h/project.yaml").write_text(textwrap.dedent(PROJECT.format(run=f"{script}; {METRICS}")))
    result = mlci(root, "run", "h", "--job-id", job, "--image", image, "-q")
    record = json.loads((root / ".mlci/runs/h" / job / "status.json").read_text())
    return result, record


@pytest.mark.parametrize(
    ("script", "named"),
    [
        ("ln -s /etc/shadow $MLCI_OUTPUT_DIR/x", "x: a symbolic link to '/etc/shadow'"),
        ("ln -s /nowhere $MLCI_OUTPUT_DIR/dangling", "dangling: a symbolic link to '/nowhere'"),
        ("cd $MLCI_OUTPUT_DIR && ln -s a b && ln -s b a", "a: a symbolic link to 'b'"),
        ("mkfifo $MLCI_OUTPUT_DIR/pipe", "pipe: a FIFO"),
        ("truncate -s 2G $MLCI_OUTPUT_DIR/zeros", "zeros: a sparse file (2.0 GiB apparent"),
        ("head -c 70000000 /dev/urandom > $MLCI_OUTPUT_DIR/big", "over the 64.0 MiB limit"),
    ],
    ids=["link-to-shadow", "dangling", "loop", "fifo", "sparse", "oversized"],
)
def test_hostile_outputs_fail_the_attempt_by_name_and_reach_no_store(hostile, script, named):
    root, _ = hostile
    job = "case-" + named.split(":")[0].split(" ")[0].strip("'")
    result, record = run_case(hostile, job, script)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert named in result.stderr
    attempt = record["attempts"][0]
    assert attempt["status"] == "Failed" and named in attempt["error"]
    assert [s["status"] for s in attempt["stages"]] == ["Succeeded"]
    assert record["overallStatus"] == "Failed" and named in record["error"]
    assert len(record["attempts"]) == 1  # a refused output is not a gate failure: no retrain
    assert not (root / "store" / "h" / job).exists()
    junit = (root / ".mlci/runs/h" / job / "junit.xml").read_text()
    assert 'failures="0"' not in junit


def test_fifty_thousand_small_files_are_published_completely(hostile):
    root, _ = hostile
    script = "mkdir -p $MLCI_OUTPUT_DIR/many && cd $MLCI_OUTPUT_DIR/many && seq 1 50000 | xargs touch"
    result, record = run_case(hostile, "many", script)
    assert result.returncode == 0, result.stderr
    published = root / "store" / "h" / "many" / "many"
    assert sum(1 for _ in published.iterdir()) == 50000
    assert record["run"]["artifactUrl"] == (root / "store" / "h" / "many").resolve().as_uri()


def test_a_config_yaml_link_is_never_mounted(hostile):
    root, image = hostile
    config = root / "projects/h/config.yaml"
    config.unlink()
    config.symlink_to("/etc/hostname")
    try:
        (root / "projects/h/project.yaml").write_text(textwrap.dedent(PROJECT.format(run=METRICS)))
        result = mlci(root, "run", "h", "--job-id", "config-link", "--image", image, "-q")
    finally:
        config.unlink()
        config.write_text("lr: 1\n")
    assert result.returncode == 2, result.stderr
    assert "config.yaml is a symbolic link" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_publish_command_applies_the_same_policy(hostile):
    """An output tree changed after the run (or a hand-edited record) is checked again at publish."""
    root, _ = hostile
    result, record = run_case(hostile, "later", "true")
    assert result.returncode == 0, result.stderr
    out = root / ".mlci/runs/h/later" / record["run"]["outputDir"]
    (out / "x").symlink_to("/etc/shadow")
    store_dir = root / "store2"
    (root / "mlci.yaml").write_text(
        (root / "mlci.yaml")
        .read_text()
        .replace(
            "    local: {type: local, path: store}\n",
            "    local: {type: local, path: store}\n    other: {type: local, path: store2}\n",
        )
    )
    published = mlci(root, "publish", "h", "later", "--store", "other")
    assert published.returncode == 1
    assert "x: a symbolic link to '/etc/shadow'" in published.stderr
    assert not (store_dir / "h" / "later").exists()
    assert not any(Path(store_dir / "h").glob("*/x")) if (store_dir / "h").exists() else True
