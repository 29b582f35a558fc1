"""Approvers declared in mlci.yaml (jenkins.approvers): validated, created in Jenkins' local realm with
only Overall/Read and Job/Read, their password secrets provisioned like the admin's, and named as the
`input` submitters of exactly the projects they may approve (through `mlci plan`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlci.cli import main
from mlci.render import plan as render

SCENARIO = Path(__file__).parents[1] / "render" / "scenarios" / "one-host"
APPROVERS = """\
jenkins:
  url: "https://ci.acme.example/"
  library: {version: v1.2.0, path: jenkins/library}
  approvers:
    - {user: alice, password: ALICE_JENKINS_PASSWORD, projects: [vision]}
    - {user: bob, password: BOB_JENKINS_PASSWORD, projects: ["*"]}
"""


def repo_with(tmp_path: Path, jenkins_block: str) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(SCENARIO, root, ignore=shutil.ignore_patterns("expected"))
    text = (root / "mlci.yaml").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("jenkins:")]
    (root / "mlci.yaml").write_text("\n".join(lines) + "\n" + jenkins_block)
    return root


def casc(root: Path) -> dict:
    return yaml.safe_load(next(f for f in render(root) if f.path == "jenkins/casc.yaml").content)


def test_approvers_become_local_users_with_read_permissions_only(tmp_path):
    c = casc(repo_with(tmp_path, APPROVERS))
    users = c["jenkins"]["securityRealm"]["local"]["users"]
    assert users == [
        {"id": "admin", "password": "${JENKINS_ADMIN_PASSWORD}"},
        {"id": "alice", "password": "${ALICE_JENKINS_PASSWORD}"},
        {"id": "bob", "password": "${BOB_JENKINS_PASSWORD}"},
    ]
    entries = {
        (kind, e["name"]): e["permissions"]
        for entry in c["jenkins"]["authorizationStrategy"]["globalMatrix"]["entries"]
        for kind, e in entry.items()
    }
    assert entries[("user", "alice")] == entries[("user", "bob")] == ["Overall/Read", "Job/Read"]
    assert not any("Job/Build" in p or "Administer" in p for k, p in entries.items() if k[1] in ("alice", "bob"))


def test_approver_passwords_are_provisioned_like_the_admins(tmp_path):
    files = {f.path: f.content for f in render(repo_with(tmp_path, APPROVERS))}
    compose = yaml.safe_load(files["compose/docker-compose.yml"])
    jenkins_secrets = {s if isinstance(s, str) else s["source"] for s in compose["services"]["jenkins"]["secrets"]}
    assert {"ALICE_JENKINS_PASSWORD", "BOB_JENKINS_PASSWORD", "JENKINS_ADMIN_PASSWORD"} <= jenkins_secrets
    assert "ALICE_JENKINS_PASSWORD" in compose["secrets"]
    # Ansible installs them on the controller like every other secret the stack reads
    group_vars = yaml.safe_load(files["ansible/group_vars/all.yml"])
    installed = {s["name"]: s["service"] for s in group_vars["mlci_secrets"]}
    assert installed["ALICE_JENKINS_PASSWORD"] == installed["BOB_JENKINS_PASSWORD"] == "jenkins"


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ("  approvers: [{user: alice, password: A_PW, projects: [x]}, {user: alice, password: B_PW, projects: [y]}]\n",
         "user alice is listed twice"),
        ("  approvers: [{user: admin, password: A_PW, projects: [x]}]\n", "admin is jenkins.admin_user"),
        ("  approvers: [{user: alice, password: hunter2, projects: [x]}]\n", "jenkins.approvers[0].password: invalid value 'hunter2' — name a secret"),
        ("  approvers: [{user: alice, password: A_PW, projects: []}]\n", "approvers[0].projects: List should have at least 1 item"),
        ("  approvers: [{user: alice, password: A_PW, projects: ['vision;id']}]\n", "approvers[0].projects: 'vision;id' is not a project name"),
        ("  approvers: [{user: 'alice,bob', password: A_PW, projects: [x]}]\n", "approvers[0].user: invalid value 'alice,bob'"),
    ],
)  # fmt: skip
def test_bad_approvers_are_validation_errors(tmp_path, block, words):
    root = repo_with(tmp_path, "jenkins:\n" + block)
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "--root", str(root), "validate"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and "mlci.yaml:" in done.stderr and "Traceback" not in done.stderr


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_plan_names_the_approvers_of_each_project_as_submitters(tmp_path, capsys):
    root = repo_with(tmp_path, APPROVERS)
    (root / "projects/vision/project.yaml").write_text("gpus: 2\npublish: {approval: true, submitter: carol}\n")
    (root / "projects/digits/project.yaml").write_text("gpus: none\npublish: {approval: true}\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    assert main(["--root", str(root), "plan", "--force", "--json"]) == 0
    projects = {p["name"]: p for p in json.loads(capsys.readouterr().out)["projects"]}
    assert projects["vision"]["submitter"] == "carol,alice,bob"  # project.yaml's own, then mlci.yaml's
    assert projects["digits"]["submitter"] == "bob"  # alice may approve vision only
