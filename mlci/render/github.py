"""`.github/workflows/release-trigger.yml` and `ci.yml`.

No value is ever interpolated into a `run:` script: event data and secrets reach the shell only
through `env:`, and the scripts quote every expansion, so a branch name or PR title cannot inject.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from mlci.render.distribution import distribution
from mlci.render.model import WEBHOOK_URL_SECRET, Facts
from mlci.render.syntax import dump_yaml

CHECKOUT = "actions/checkout@v4"
SETUP_PYTHON = "actions/setup-python@v5"
PYTHON = "3.11"

# The request both triggers send: the same path, token header and JSON shape Jenkins' generic
# webhook trigger reads (HEAD_REF <- $.head, BASE_REF <- $.base, PR_NUMBER <- $.pr).
_POST_SCRIPT = """\
payload=$(jq -cn --arg head "$head" --arg base "$base" --arg pr "${PR_NUMBER:-}" \\
  '{head: $head, base: $base, pr: $pr}')
curl --fail-with-body --silent --show-error --retry 3 --retry-all-errors --max-time 30 \\
  -X POST -H 'Content-Type: application/json' -H "token: $WEBHOOK_TOKEN" \\
  --data "$payload" "$WEBHOOK_URL"
"""

# A merged PR: plan from the merge commit's first parent (the release branch just before the merge),
# not from pull_request.base.sha, which is the base tip when the PR was last synchronized and can lag
# behind commits merged since (they would be released again, or a squash would hide them).
_RELEASE_PR_SCRIPT = (
    """\
set -euo pipefail
head=$(git rev-parse --verify 'HEAD^{commit}')
[ "$head" = "$MERGE_SHA" ] || { echo "checked out $head, not the merge commit $MERGE_SHA" >&2; exit 1; }
base=$(git rev-parse --verify 'HEAD^1^{commit}')
"""
    + _POST_SCRIPT
)

# A push: plan from the branch's previous tip, so every commit the push brought is covered. A push
# that created the branch has no previous tip (before is all zeros): Jenkins then plans from head's
# first parent.
_PUSH_SCRIPT = (
    """\
set -euo pipefail
head=$AFTER_SHA
base=$BEFORE_SHA
if [[ ! $base =~ ^[0-9a-f]{40}$ || $base =~ ^0+$ ]]; then base=''; fi
"""
    + _POST_SCRIPT
)


def _webhook_env(facts: Facts) -> dict[str, str]:
    return {
        "WEBHOOK_URL": f"${{{{ secrets.{WEBHOOK_URL_SECRET} }}}}",
        "WEBHOOK_TOKEN": f"${{{{ secrets.{facts.manifest.webhook.token} }}}}",
    }


def render_release_trigger(facts: Facts) -> str:
    """`repository.trigger`: release_pr (a merged release PR) or push (every push to the release branch)."""
    repo = facts.manifest.repository
    assert repo is not None
    release_branch = repo.release_branch or repo.branch
    if repo.trigger == "push":
        return dump_yaml(_push_trigger(facts, release_branch))
    return dump_yaml(_release_pr_trigger(facts, release_branch))


def _release_pr_trigger(facts: Facts, release_branch: str) -> dict[str, Any]:
    merged_release = (
        "github.event.pull_request.merged == true && ("
        "contains(github.event.pull_request.labels.*.name, 'release') || "
        "startsWith(github.event.pull_request.head.ref, 'release/'))"
    )
    return {
        "name": "release-trigger",
        "on": {"pull_request": {"types": ["closed"], "branches": [release_branch]}},
        "permissions": {"contents": "read"},  # to fetch the merge commit and its parents
        # One group per pull request: in a shared group a newer run (even a skipped one, for a PR that
        # was not a release) replaces the pending one, and that release would never be triggered.
        "concurrency": {
            "group": "mlci-release-trigger-${{ github.event.pull_request.number }}",
            "cancel-in-progress": False,
        },
        "jobs": {
            "trigger": {
                "if": merged_release,
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 5,
                "steps": [
                    {
                        "name": "Fetch the merge commit and its parents",
                        "uses": CHECKOUT,
                        "with": {
                            "ref": "${{ github.event.pull_request.merge_commit_sha }}",
                            "fetch-depth": 2,
                            "persist-credentials": False,
                        },
                    },
                    {
                        "name": "Start the release job in Jenkins",
                        "env": {
                            **_webhook_env(facts),
                            "MERGE_SHA": "${{ github.event.pull_request.merge_commit_sha }}",
                            "PR_NUMBER": "${{ github.event.pull_request.number }}",
                        },
                        "run": _RELEASE_PR_SCRIPT,
                    },
                ],
            }
        },
    }


def _push_trigger(facts: Facts, release_branch: str) -> dict[str, Any]:
    return {
        "name": "release-trigger",
        "on": {"push": {"branches": [release_branch]}},
        "permissions": {},
        # One group per pushed commit: every push is released, none replaces another.
        "concurrency": {"group": "mlci-release-trigger-${{ github.sha }}", "cancel-in-progress": False},
        "jobs": {
            "trigger": {
                "if": "github.event.deleted != true",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 5,
                "steps": [
                    {
                        "name": "Start the release job in Jenkins",
                        "env": {
                            **_webhook_env(facts),
                            "AFTER_SHA": "${{ github.event.after }}",
                            "BEFORE_SHA": "${{ github.event.before }}",
                        },
                        "run": _PUSH_SCRIPT,
                    }
                ],
            }
        },
    }


def render_ci(facts: Facts, root: Path) -> str:
    """Lint, unit tests, `mlci validate` and `mlci render --check` on every pull request."""
    repo = facts.manifest.repository
    branches = [repo.branch] if repo else ["main"]
    if repo and repo.release_branch and repo.release_branch not in branches:
        branches.append(repo.release_branch)
    dist = distribution(facts.manifest)
    is_mlci_itself = (root / "mlci" / "__init__.py").is_file() and (root / "pyproject.toml").is_file()
    if dist.from_checkout or is_mlci_itself:
        install = 'python -m pip install -e ".[test]"'
        lint = "ruff check . && ruff format --check ."
        tests = 'pytest -m "not docker and not gpu and not live and not slow"'
    else:
        # The pinned mlci, from the manifest's index (PyPI by default), like every other machine.
        install = shlex.join(
            ["python", "-m", "pip", "install", *dist.index_args(), dist.requirement([]), "pytest", "ruff"]
        )
        lint = "ruff check ."
        tests = "if [ -d tests ]; then pytest; fi"
    steps = [
        {"uses": CHECKOUT},
        {"uses": SETUP_PYTHON, "with": {"python-version": PYTHON}},
        {"name": "Install", "run": install},
        {"name": "Lint", "run": lint},
        {"name": "Unit tests", "run": tests},
        {"name": "Validate the manifest and projects", "run": "mlci validate"},
        {"name": "Rendered files are up to date", "run": "mlci render --check"},
    ]
    workflow = {
        "name": "ci",
        "on": {"pull_request": {"branches": branches}},
        "permissions": {"contents": "read"},
        "concurrency": {"group": "ci-${{ github.ref }}", "cancel-in-progress": True},
        "jobs": {"checks": {"runs-on": "ubuntu-latest", "timeout-minutes": 30, "steps": steps}},
    }
    return dump_yaml(workflow)
