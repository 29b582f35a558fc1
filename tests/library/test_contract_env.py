"""The real `mlci plan --env --json` output, from a Git repository, drives mlciPromote and mlciDeploy:
the contract between the Python planner and the Groovy that reads it cannot drift unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from . import harness
from .scenarios import SERVING_NODES, USER_CAUSE
from .test_contract import git

MANIFEST = """\
version: 1
name: demo
hosts:
  - {name: gpu-01, address: 127.0.0.1, gpus: 1, roles: [controller, agent]}
  - {name: web-01, address: 127.0.0.2, gpus: 0, roles: [agent], labels: [serve]}
jenkins:
  approvers: [{user: alice, password: ALICE_PW, projects: ["*"]}]
artifacts:
  default: shelf
  stores:
    shelf: {type: local, path: /srv/shelf}
    vault: {type: s3, bucket: models, access_key_id: VAULT_KEY_ID, secret_access_key: VAULT_KEY}
notifications: {slack: {webhook: SLACK_WEBHOOK_URL}}
environments:
  prod: {store: vault, hosts: [serve], secrets: [PROD_API_KEY], approval: true, approvers: [alice]}
"""
SERVE = "gpus: none\nserve: {command: python serve.py, port: 8080, health_timeout: 2m, itest: {run: python it.py}}\n"


@pytest.fixture(scope="module")
def real_plan(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("contract-env")
    git(root, "init", "-q", "-b", "main")
    (root / "mlci.yaml").write_text(MANIFEST)
    (root / "projects" / "digits").mkdir(parents=True)
    (root / "projects" / "digits" / "project.yaml").write_text(SERVE)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "serve digits")
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "--root", str(root), "plan", "--env", "prod", "--projects", "digits", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def builds(real_plan) -> dict:
    common = {
        "build": 42,
        "nodes": SERVING_NODES,
        "resources": {},
        "causes": [USER_CAUSE],
        "credentials": ["SLACK_WEBHOOK_URL", "VAULT_KEY", "VAULT_KEY_ID", "PROD_API_KEY"],
        "sh": [{"match": r"^mlci plan --env=", "stdout": json.dumps(real_plan, indent=2)}],
    }
    params = {"PROJECT": "digits", "VERSION": "v2", "ENV": "prod"}
    scenarios = [
        {**common, "name": "promote", "step": "mlciPromote", "job": "mlci-promote", "params": params,
         "input": {"Approve": {"decision": "approve", "user": "alice"}}},
        {**common, "name": "deploy", "step": "mlciDeploy", "job": "mlci-deploy", "params": {**params, "VERSION": ""}},
    ]  # fmt: skip
    return harness.run(scenarios=scenarios)["scenarios"]


def scripts(result: dict) -> list[str]:
    return [c["args"]["script"] for c in result["calls"] if c["step"] == "sh"]


def test_the_promote_job_follows_a_real_plan(real_plan, builds):
    r = builds["promote"]
    assert r["result"] == "SUCCESS", (r["error"], r["log"][-10:])
    (ask,) = [c for c in r["calls"] if c["step"] == "input"]
    assert ask["args"]["submitter"] == "alice" and ask["node"] is None
    run = scripts(r)
    assert "MLCI_PROMOTE_APPROVED=prod mlci promote digits v2 --to=prod --by=alice" in run
    assert run[-3:] == [
        "mlci deploy digits --env=prod --version=v2",
        "mlci itest digits --env=prod",
        "mlci notify --event=promoted digits --env=prod --version=v2 --by=alice",
    ]
    (promote,) = [c for c in r["calls"] if c["step"] == "sh" and "mlci promote" in c["args"]["script"]]
    assert promote["secrets"] == ["VAULT_KEY", "VAULT_KEY_ID"]
    limits = [c["args"]["time"] for c in r["calls"] if c["step"] == "timeout"]
    assert limits == [real_plan["approval_timeout_s"], 3600 + 120 + 300, 600 + 300]


def test_the_deploy_job_follows_a_real_plan(builds):
    r = builds["deploy"]
    assert r["result"] == "SUCCESS", (r["error"], r["log"][-10:])
    deploy = next(c for c in r["calls"] if c["step"] == "sh" and c["args"]["script"].startswith("mlci deploy"))
    assert deploy["args"]["script"] == "mlci deploy digits --env=prod" and deploy["node"] == "web-01"
    assert deploy["secrets"] == ["PROD_API_KEY", "VAULT_KEY", "VAULT_KEY_ID"]
