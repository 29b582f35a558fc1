"""The rendered release-trigger.yml, run by nektos/act as GitHub would run it, against a recording
webhook endpoint on 127.0.0.1: the exact request it sends for each event, or that it sends none.

History of the team repository (one per trigger, made by `team_repo`):

    A ── B ────── M     main: B merged by another PR after the release PR was last synchronized
     └── F ──────┘      the release PR's branch; M is its merge commit (first parent B)

GitHub's pull_request.base.sha for the release PR is A (the base when the PR was last updated): a
trigger that sent it would release B's changes again. The request must carry M's first parent, B.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from act_support import git, run_act, webhook_endpoint

TOKEN_SECRET = "TEAM_WEBHOOK_TOKEN"  # webhook.token in the team's mlci.yaml
TOKEN = "s3cr3t-webhook-token"


def team_repo(root: Path, trigger: str) -> dict[str, str]:
    """The repository above, rendered by mlci with `trigger`, and its bare 'GitHub' copy for the
    checkout stand-in; returns the commits by name."""
    repo = root / "team-ml"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", "https://github.com/team/ml.git")  # act reads owner/repo here
    (repo / "mlci.yaml").write_text(
        "version: 1\nname: team\n"
        f"repository: {{url: https://github.com/team/ml.git, branch: main, trigger: {trigger}}}\n"
        f"webhook: {{token: {TOKEN_SECRET}}}\n"
    )
    rendered = subprocess.run(
        [sys.executable, "-m", "mlci", "--root", str(repo), "render"], capture_output=True, text=True
    )
    assert rendered.returncode == 0, rendered.stderr
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "A: adopt mlci")
    commits = {"A": git(repo, "rev-parse", "HEAD")}
    git(repo, "checkout", "-qb", "release/1.2")
    (repo / "model.txt").write_text("release 1.2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "F: the release")
    commits["F"] = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    (repo / "other.txt").write_text("merged meanwhile\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "B: another PR")
    commits["B"] = git(repo, "rev-parse", "HEAD")
    git(repo, "merge", "-q", "--no-ff", "release/1.2", "-m", "M: merge release/1.2")
    commits["M"] = git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-parse", "HEAD^1") == commits["B"]
    github = root / "github" / "team"
    github.mkdir(parents=True)
    git(root, "clone", "-q", "--bare", str(repo), str(github / "ml.git"))
    return {"repo": str(repo), "github": str(root / "github"), **commits}


def pull_request_closed(commits: dict[str, str], *, merged: bool, labels: list[str], head_ref: str) -> dict:
    return {
        "action": "closed",
        "number": 42,
        "repository": {"full_name": "team/ml", "name": "ml", "owner": {"login": "team"}, "default_branch": "main"},
        "pull_request": {
            "number": 42,
            "state": "closed",
            "merged": merged,
            "merge_commit_sha": commits["M"] if merged else None,
            "labels": [{"name": label} for label in labels],
            "head": {"ref": head_ref, "sha": commits["F"]},
            "base": {"ref": "main", "sha": commits["A"]},  # stale: B landed after the PR's last sync
        },
    }


def push(before: str, after: str, *, deleted: bool = False, created: bool = False) -> dict:
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "created": created,
        "deleted": deleted,
        "forced": False,
        "repository": {"full_name": "team/ml", "name": "ml", "owner": {"login": "team"}, "default_branch": "main"},
        "head_commit": None if deleted else {"id": after},
    }


def trigger(tmp_path: Path, commits: dict[str, str], event_name: str, event: dict):
    with webhook_endpoint(TOKEN) as (url, requests):
        done = run_act(
            Path(commits["repo"]),
            "release-trigger.yml",
            event_name,
            event,
            secrets={"MLCI_WEBHOOK_URL": url, TOKEN_SECRET: TOKEN, "GITHUB_TOKEN": "ghs_test_stand_in"},
            env={"STANDIN_GIT_ROOT": commits["github"]},
            home=tmp_path / "act-home",
        )
    return done, list(requests)


def assert_one_webhook_post(requests, body: dict) -> None:
    assert len(requests) == 1, requests
    (request,) = requests
    assert (request.method, request.path) == ("POST", "/generic-webhook-trigger/invoke")
    assert request.headers["token"] == TOKEN
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == body


@pytest.fixture(scope="module")
def release_pr_repo(tmp_path_factory) -> dict[str, str]:
    return team_repo(tmp_path_factory.mktemp("release-pr"), "release_pr")


@pytest.fixture(scope="module")
def push_repo(tmp_path_factory) -> dict[str, str]:
    return team_repo(tmp_path_factory.mktemp("push"), "push")


def test_a_merged_release_pr_posts_the_merge_commit_and_its_first_parent(tmp_path, release_pr_repo):
    c = release_pr_repo
    event = pull_request_closed(c, merged=True, labels=["release"], head_ref="feature/x")
    done, requests = trigger(tmp_path, c, "pull_request", event)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_one_webhook_post(requests, {"head": c["M"], "base": c["B"], "pr": "42"})
    assert "Job succeeded" in done.stdout


def test_a_release_branch_pr_without_the_label_is_a_release_too(tmp_path, release_pr_repo):
    c = release_pr_repo
    done, requests = trigger(
        tmp_path, c, "pull_request", pull_request_closed(c, merged=True, labels=[], head_ref="release/1.2")
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert_one_webhook_post(requests, {"head": c["M"], "base": c["B"], "pr": "42"})


@pytest.mark.parametrize(
    ("merged", "labels", "head_ref"),
    [(False, ["release"], "release/1.2"), (True, ["docs"], "feature/x")],
    ids=["closed-unmerged", "merged-not-a-release"],
)
def test_other_closed_prs_post_nothing(tmp_path, release_pr_repo, merged, labels, head_ref):
    c = release_pr_repo
    event = pull_request_closed(c, merged=merged, labels=labels, head_ref=head_ref)
    done, requests = trigger(tmp_path, c, "pull_request", event)
    assert done.returncode == 0, done.stdout[-3000:]
    assert requests == []
    assert "Fetch the merge commit" not in done.stdout  # the job was skipped, not failed


def test_a_rejected_webhook_fails_the_workflow(tmp_path, release_pr_repo):
    """A wrong token (Jenkins answers 404: no job for it) is a red workflow run, not a silent one."""
    c = release_pr_repo
    event = pull_request_closed(c, merged=True, labels=["release"], head_ref="feature/x")
    with webhook_endpoint("another-token") as (url, requests):
        done = run_act(
            Path(c["repo"]),
            "release-trigger.yml",
            "pull_request",
            event,
            secrets={"MLCI_WEBHOOK_URL": url, TOKEN_SECRET: TOKEN, "GITHUB_TOKEN": "ghs_test_stand_in"},
            env={"STANDIN_GIT_ROOT": c["github"]},
            home=tmp_path / "act-home",
        )
    assert requests, "the workflow never reached the endpoint"
    assert done.returncode != 0
    assert "Job failed" in done.stdout


def test_a_push_posts_the_previous_and_the_new_tip(tmp_path, push_repo):
    c = push_repo
    done, requests = trigger(tmp_path, c, "push", push(c["A"], c["M"]))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert_one_webhook_post(requests, {"head": c["M"], "base": c["A"], "pr": ""})


def test_a_push_that_creates_the_branch_leaves_the_base_to_jenkins(tmp_path, push_repo):
    c = push_repo
    done, requests = trigger(tmp_path, c, "push", push("0" * 40, c["M"], created=True))
    assert done.returncode == 0, done.stdout[-3000:]
    assert_one_webhook_post(requests, {"head": c["M"], "base": "", "pr": ""})


def test_a_push_that_deletes_the_branch_posts_nothing(tmp_path, push_repo):
    c = push_repo
    done, requests = trigger(tmp_path, c, "push", push(c["M"], "0" * 40, deleted=True))
    assert done.returncode == 0, done.stdout[-3000:]
    assert requests == []


def test_the_push_trigger_ignores_pull_requests(tmp_path, push_repo):
    c = push_repo
    event = pull_request_closed(c, merged=True, labels=["release"], head_ref="release/1.2")
    done, requests = trigger(tmp_path, c, "pull_request", event)
    assert requests == []
    assert "Job succeeded" not in done.stdout
