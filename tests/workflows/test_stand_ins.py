"""The stand-ins for actions/checkout and actions/setup-python do what the workflows rely on, and
refuse what the real actions refuse (actions/checkout src/input-helper.ts: a repository not of the
form owner/repo, a path outside the workspace, a missing token; setup-python: a version that does
not exist), so a rendered workflow that would fail on GitHub fails here too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from act_support import git, run_act

JOBS = {
    "good": [
        {"uses": "actions/checkout@v4", "with": {"path": "sub", "fetch-depth": 1}},
        {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
        {
            "run": 'test "$(git -C sub rev-parse HEAD)" = "$GITHUB_SHA" && test ! -e sub/.git/shallow -o -s sub/.git/shallow'
        },
        {"run": "python -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'"},
        {"run": 'test "$(command -v python)" != /usr/bin/python3 && python -m pip --version'},
    ],
    "bad-repository": [{"uses": "actions/checkout@v4", "with": {"repository": "just-a-name"}}],
    "path-outside": [{"uses": "actions/checkout@v4", "with": {"path": "../elsewhere"}}],
    "no-token": [{"uses": "actions/checkout@v4", "with": {"token": ""}}],
    "no-such-python": [{"uses": "actions/setup-python@v5", "with": {"python-version": "3.99"}}],
}
REFUSALS = {
    "bad-repository": "Invalid repository 'just-a-name'. Expected format {owner}/{repo}.",
    "path-outside": "is not under",
    "no-token": "Input required and not supplied: token",
    "no-such-python": "The version '3.99' with architecture 'x64' was not found",
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    root = tmp_path_factory.mktemp("stand-ins")
    repo = root / "team-ml"
    (repo / ".github" / "workflows").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", "https://github.com/team/ml.git")
    workflow = {
        "name": "stand-ins",
        "on": "push",
        "jobs": {name: {"runs-on": "ubuntu-latest", "steps": steps} for name, steps in JOBS.items()},
    }
    (repo / ".github" / "workflows" / "stand-ins.yml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "workflow")
    (root / "github" / "team").mkdir(parents=True)
    git(root, "clone", "-q", "--bare", str(repo), str(root / "github" / "team" / "ml.git"))
    sha = git(repo, "rev-parse", "HEAD")
    event = {"ref": "refs/heads/main", "before": "0" * 40, "after": sha, "repository": {"full_name": "team/ml"}}
    return run_act(
        Path(repo),
        "stand-ins.yml",
        "push",
        event,
        secrets={"GITHUB_TOKEN": "ghs_test_stand_in"},
        env={"STANDIN_GIT_ROOT": str(root / "github")},
        home=root / "act-home",
    )


def job_output(done, job: str) -> str:
    prefix = re.compile(rf"^\[stand-ins/{re.escape(job)} *\]")  # act pads job names to one width
    return "\n".join(line for line in done.stdout.splitlines() if prefix.match(line))


def test_the_stand_ins_check_out_and_set_up_python(ran):
    out = job_output(ran, "good")
    assert "Job succeeded" in out, ran.stdout[-4000:]


@pytest.mark.parametrize("job", sorted(REFUSALS))
def test_the_stand_ins_refuse_what_the_real_actions_refuse(ran, job):
    out = job_output(ran, job)
    assert "Job failed" in out, out
    assert REFUSALS[job] in out
