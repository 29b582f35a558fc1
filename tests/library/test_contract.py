"""The real `mlci plan --json` output, from a Git repository, drives the library: the contract
between the Python planner and the Groovy that reads it cannot drift unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from . import harness
from .scenarios import gpu_pool

MANIFEST = """\
version: 1
name: demo
hosts:
  - {name: gpu-01, address: 127.0.0.1, gpus: 4, roles: [controller, agent]}
artifacts:
  default: local
  stores:
    local: {type: local, path: .mlci/artifacts}
    hub: {type: huggingface, repo: acme/models, token: HF_TOKEN}
notifications: {slack: {webhook: SLACK_WEBHOOK_URL}}
jenkins:
  approvers: [{user: bob, password: BOB_JENKINS_PASSWORD, projects: ["*"]}]
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def real_plan(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("contract")
    git(root, "init", "-q", "-b", "main")
    (root / "mlci.yaml").write_text(MANIFEST)
    for name, settings in {
        "vision": "gpus: 2\npublish: {store: hub, approval: true, submitter: alice}\n",
        "tabular": "gpus: none\n",
    }.items():
        (root / "projects" / name).mkdir(parents=True)
        (root / "projects" / name / "project.yaml").write_text(settings)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first release")
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "--root", str(root), "plan", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def release(real_plan) -> dict:
    scenario = {
        "name": "real-plan",
        "step": "Jenkinsfile",
        "build": 42,
        "resources": gpu_pool(),
        "credentials": ["SLACK_WEBHOOK_URL", "HF_TOKEN"],
        "sh": [{"match": r"^mlci plan ", "stdout": json.dumps(real_plan, indent=2)}],
    }
    return harness.run(scenarios=[scenario])["scenarios"]["real-plan"]


def test_the_library_accepts_and_follows_a_real_plan(real_plan, release):
    head = real_plan["commit"]

    def job(name: str) -> str:
        return f"{head[:12]}-mlci-release-42"

    assert release["result"] == "SUCCESS", release["error"]
    assert [c["args"] for c in release["calls"] if c["step"] == "parallel"] == [["tabular", "vision"]]
    scripts = [c["args"]["script"] for c in release["calls"] if c["step"] == "sh"]
    assert f"mlci run tabular --job-id={job('tabular')} --gpus=none" in scripts
    assert f"mlci run vision --job-id={job('vision')} --gpus=0,1" in scripts
    assert f"mlci publish vision {job('vision')} --store=hub" in scripts
    assert f"mlci publish tabular {job('tabular')} --store=local" in scripts
    (ask,) = [c for c in release["calls"] if c["step"] == "input"]
    assert ask["args"]["submitter"] == "alice,bob"  # project.yaml's, then mlci.yaml's approvers
    publish = next(
        c for c in release["calls"] if c["step"] == "sh" and c["args"]["script"].startswith("mlci publish vision")
    )
    assert publish["secrets"] == ["HF_TOKEN"]
    assert release["displayName"] == f"#42 tabular, vision @ {head[:7]}"
