"""`mlci plan --env ENV --projects NAME`: what Jenkins' mlci-promote and mlci-deploy read, from a real
Git repository at one commit (project.yaml's serve: and mlci.yaml's environments: as committed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_affected import cli, commit, git, write

MANIFEST = """\
version: 1
name: demo
hosts:
  - {name: ctl, address: 127.0.0.1, gpus: 0, roles: [controller]}
  - {name: gpu-01, address: 127.0.0.2, gpus: 2, roles: [agent], labels: [train]}
  - {name: web-01, address: 127.0.0.3, gpus: 0, roles: [agent], labels: [serve]}
  - {name: web-02, address: 127.0.0.4, gpus: 0, roles: [agent], labels: [serve]}
jenkins:
  admin_user: root
  approvers: [{user: alice, password: ALICE_PW, projects: ["*"]}, {user: bob, password: BOB_PW, projects: [other]}]
artifacts:
  default: shelf
  stores:
    shelf: {type: local, path: /srv/shelf}
    vault: {type: s3, bucket: models, access_key_id: VAULT_KEY_ID, secret_access_key: VAULT_KEY}
notifications: {slack: {webhook: SLACK_WEBHOOK_URL}}
environments:
  qa: {store: shelf, hosts: [gpu-01]}
  prod: {store: vault, hosts: [serve], secrets: [PROD_API_KEY], approval: true, approvers: [alice, bob],
         approval_timeout: 2h}
  staging: {store: shelf, approval: true}
  edge: {store: shelf, hosts: [ctl]}
"""
SERVE = "serve: {command: python serve.py, port: 8080, itest: {run: python itest.py}}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "mono"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "mlci.yaml", MANIFEST)
    write(root, "projects/digits/project.yaml", SERVE)
    write(root, "projects/batch/project.yaml", "gpus: none\npublish: {store: vault}\n")
    commit(root, "initial")
    return root


def plan(root: Path, capsys, *args: str) -> dict:
    code, out, err = cli(root, capsys, "plan", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_an_approval_environment_served_by_a_label(repo, capsys):
    got = plan(repo, capsys, "--env", "prod", "--projects", "digits")
    assert got == {
        "commit": git(repo, "rev-parse", "HEAD"),
        "project": "digits",
        "env": "prod",
        "approval": True,
        "submitter": "alice,bob",
        "approval_timeout_s": 7200,
        "source_store": "shelf",
        "store": "vault",
        "promote_secrets": ["VAULT_KEY", "VAULT_KEY_ID"],
        "deploy": True,
        "deploy_hosts": ["web-01", "web-02"],  # both hosts labelled serve, in mlci.yaml's order
        "itest": True,
        "deploy_timeout_s": 3600 + 60 + 300,  # image build allowance + health_timeout + slack
        "itest_timeout_s": 600 + 300,
        "deploy_secrets": ["PROD_API_KEY", "VAULT_KEY", "VAULT_KEY_ID"],
        "notify_secrets": ["SLACK_WEBHOOK_URL"],
    }


def test_a_plain_environment_served_by_a_host_name(repo, capsys):
    got = plan(repo, capsys, "--env", "qa", "--projects", "digits")
    assert (got["approval"], got["submitter"], got["approval_timeout_s"]) == (False, "root", 86400)
    assert (got["deploy"], got["deploy_hosts"], got["itest"]) == (True, ["gpu-01"], True)
    assert got["promote_secrets"] == [] and got["deploy_secrets"] == []


def test_nothing_to_deploy_without_serve_or_without_hosts(repo, capsys):
    batch = plan(repo, capsys, "--env", "qa", "--projects", "batch")
    assert (batch["deploy"], batch["deploy_hosts"], batch["itest"]) == (False, [], False)
    assert (batch["deploy_timeout_s"], batch["itest_timeout_s"]) == (0, 0)
    assert batch["source_store"] == "vault" and batch["promote_secrets"] == ["VAULT_KEY", "VAULT_KEY_ID"]
    staging = plan(repo, capsys, "--env", "staging", "--projects", "digits")
    assert (staging["deploy"], staging["deploy_hosts"]) == (False, [])
    assert staging["submitter"] == "root"  # approval with nobody named: the admin


def test_it_reads_the_commit_not_the_working_tree(repo, capsys):
    write(repo, "projects/digits/project.yaml", "gpus: none\n")  # serve: removed but not committed
    assert plan(repo, capsys, "--env", "qa", "--projects", "digits")["deploy"] is True
    commit(repo)
    assert plan(repo, capsys, "--env", "qa", "--projects", "digits")["deploy"] is False


def test_the_text_form(repo, capsys):
    code, out, _ = cli(repo, capsys, "plan", "--env", "prod", "--projects", "digits")
    assert code == 0
    assert "approval by alice,bob within 7200s" in out
    assert "deploy on web-01, web-02, then mlci itest" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--env", "prod"), "--env needs exactly one project in --projects"),
        (("--env", "prod", "--projects", "digits,batch"), "--env needs exactly one project"),
        (("--env", "prod", "--projects", "digits", "--force"), "options of a release plan do not apply: --force"),
        (("--env", "prod;id", "--projects", "digits"), "--env: 'prod;id' is not an environment name"),
        (("--env", "prd", "--projects", "digits"), "no environment 'prd' in mlci.yaml at"),
        (("--env", "prod", "--projects", "nope"), "--projects: no project 'nope' at"),
        (("--env", "edge", "--projects", "digits"), "environment 'edge' is served by ctl, which Jenkins cannot"),
    ],
)
def test_refused(repo, capsys, args, message):
    code, _, err = cli(repo, capsys, "plan", *args)
    assert code == 2
    assert message in err
