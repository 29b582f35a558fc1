"""`mlci affected` and `mlci plan` against real Git repositories made in a temporary directory."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from mlci.cli import main

MANIFEST = """\
version: 1
name: demo
artifacts:
  default: local
  stores:
    local: {type: local, path: .mlci/artifacts}
    hub: {type: huggingface, repo: acme/models, token: HF_TOKEN}
notifications: {slack: {webhook: SLACK_WEBHOOK_URL}}
hosts:
  - {name: gpu-01, address: 127.0.0.1, gpus: 4, roles: [controller, agent]}
  - {name: cpu-01, address: 127.0.0.1, gpus: 0, roles: [agent]}
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


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def commit(root: Path, message: str = "change") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Three projects: vision (2 GPUs, approval, hub), nlp (depends on libs/text), tabular (CPU)."""
    root = tmp_path / "mono"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "mlci.yaml", MANIFEST)
    write(
        root,
        "projects/vision/project.yaml",
        """\
        gpus: 2
        timeout: 1h
        stages: [{name: prep, run: ./prep.sh, timeout: 10m}, {name: train, run: ./run.sh}]
        secrets: [DATA_TOKEN]
        retrain: {max_attempts: 3}
        publish: {store: hub, approval: true, submitter: ml-leads, approval_timeout: 30m}
        """,
    )
    write(root, "projects/vision/run.sh", "echo train\n")
    write(root, "projects/nlp/project.yaml", "gpus: [0, 1, 3]\ndepends_on: [libs/text]\n")
    write(root, "projects/tabular/project.yaml", "gpus: none\n")
    write(root, "libs/text/tokenize.py", "x = 1\n")
    write(root, "docs/guide.md", "# guide\n")
    commit(root, "initial")
    return root


def cli(root: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--root", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def affected(root: Path, capsys, *args: str) -> list[str]:
    code, out, err = cli(root, capsys, "affected", *args)
    assert code == 0, err
    return out.split()


def test_a_changed_project_directory(repo, capsys):
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "projects/vision/run.sh", "echo train harder\n")
    commit(repo)
    assert affected(repo, capsys, "--base", base) == ["vision"]


def test_default_base_is_the_first_parent_of_head(repo, capsys):
    write(repo, "projects/tabular/train.py", "print(1)\n")
    commit(repo)
    assert affected(repo, capsys) == ["tabular"]


def test_a_merge_commit_brings_the_changes_of_its_branch(repo, capsys):
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "projects/nlp/model.py", "x = 2\n")
    commit(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    write(repo, "docs/guide.md", "# guide v2\n")
    commit(repo, "docs on main")
    git(repo, "merge", "-q", "--no-ff", "-m", "release PR", "feature")
    assert affected(repo, capsys) == ["nlp"]  # diff against the first parent: what the PR brought


def test_documentation_only_affects_nothing(repo, capsys):
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "docs/guide.md", "# guide v2\n")
    head = commit(repo)
    code, out, _ = cli(repo, capsys, "affected", "--base", base, "--head", head, "--json")
    assert code == 0
    assert json.loads(out) == {"base": base, "head": head, "projects": []}


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("mlci.yaml", MANIFEST + "# comment\n"),
        ("jenkins/library/vars/mlciRelease.groovy", "def call() {}\n"),
        ("Jenkinsfile", "@Library('mlci') _\nmlciRelease()\n"),
    ],
)
def test_a_shared_path_affects_every_project(repo, capsys, path, text):
    base = git(repo, "rev-parse", "HEAD")
    write(repo, path, text)
    commit(repo)
    assert affected(repo, capsys, "--base", base) == ["nlp", "tabular", "vision"]


def test_the_manifest_names_the_library_path(repo, capsys):
    write(repo, "mlci.yaml", MANIFEST + "jenkins: {library: {path: ci/lib}}\n")
    base = commit(repo)
    write(repo, "ci/lib/vars/x.groovy", "def call() {}\n")
    commit(repo)
    assert affected(repo, capsys, "--base", base) == ["nlp", "tabular", "vision"]


def test_depends_on_paths(repo, capsys):
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "libs/text/tokenize.py", "x = 3\n")
    commit(repo)
    assert affected(repo, capsys, "--base", base) == ["nlp"]
    write(repo, "libs/textual/other.py", "y = 1\n")  # a sibling with the same prefix is not libs/text
    commit(repo)
    assert affected(repo, capsys) == []


def test_moving_a_dependency_away_affects_its_dependents(repo, capsys):
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "libs/text", "libs/words")  # a rename: both the old and the new path count
    commit(repo)
    assert affected(repo, capsys, "--base", base) == ["nlp"]


def test_deleted_projects_are_left_out_and_renames_count_once(repo, capsys):
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-rq", "projects/tabular")
    git(repo, "mv", "projects/vision", "projects/vision2")
    commit(repo)
    assert affected(repo, capsys, "--base", base) == ["vision2"]


def test_head_is_read_from_git_not_from_the_working_tree(repo, capsys):
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "projects/nlp/notes.txt", "hi\n")
    head = commit(repo)
    write(repo, "projects/vision/project.yaml", "gpus: [oops\n")  # uncommitted and broken
    write(repo, "projects/tabular/extra.py", "z = 1\n")
    assert affected(repo, capsys, "--base", base, "--head", head) == ["nlp"]


@pytest.mark.parametrize("ref", ["no-such-branch", "-rf", "a b"])
def test_a_bad_ref_is_a_usage_error(repo, capsys, ref):
    code, out, err = cli(repo, capsys, "affected", "--base", ref)
    assert code == 2 and out == ""
    assert "--base:" in err and repr(ref) in err


def test_outside_git_is_a_usage_error(tmp_path, capsys):
    write(tmp_path, "mlci.yaml", MANIFEST)
    code, _, err = cli(tmp_path, capsys, "affected")
    assert code == 2 and "not inside a Git repository" in err


def plan(root: Path, capsys, *args: str) -> dict:
    code, out, err = cli(root, capsys, "plan", *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_plan_resolves_everything_the_library_needs(repo, capsys):
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "mlci.yaml", MANIFEST + "# all projects\n")
    head = commit(repo)
    got = plan(repo, capsys, "--base", base)
    assert {k: got[k] for k in ("base", "head", "commit", "skipped", "notify_secrets", "host_gpus")} == {
        "host_gpus": {"gpu-01": 4, "cpu-01": 0},
        "base": base,
        "head": head,
        "commit": head,
        "skipped": [],
        "notify_secrets": ["SLACK_WEBHOOK_URL"],
    }
    assert got["projects"] == [
        {
            "name": "nlp",
            "gpus": 3,
            "gpus_spec": "0,1,3",
            "approval": False,
            "submitter": None,
            "approval_timeout_s": 86400,
            "store": "local",
            "timeout_s": 3600 + 7200 + 330,  # build allowance + 1 attempt × the default stage's 2h + slack
            "publish_secrets": [],
            "secrets": [],
            "time_limit": {"build_s": 3600, "attempts": 1, "stages_s": 7200, "slack_s": 30 + 300},
            "gpu_node": True,
            "gpu_stages": ["train"],
        },
        {
            "name": "tabular",
            "gpus": 0,
            "gpus_spec": "none",
            "approval": False,
            "submitter": None,
            "approval_timeout_s": 86400,
            "store": "local",
            "timeout_s": 3600 + 7200 + 330,  # build allowance + 1 attempt × the default stage's 2h + slack
            "publish_secrets": [],
            "secrets": [],
            "time_limit": {"build_s": 3600, "attempts": 1, "stages_s": 7200, "slack_s": 30 + 300},
            "gpu_node": False,
            "gpu_stages": [],  # gpus: none — no lease whatever its stages say
        },
        {
            "name": "vision",
            "gpus": 2,
            "gpus_spec": "2",
            "approval": True,
            "submitter": "ml-leads",
            "approval_timeout_s": 1800,
            "store": "hub",
            # Jenkins' limit: the build allowance, then 3 attempts each running prep (10m) and train (1h)
            # slack: 30 s per stage run (3 attempts × 2 stages), 300 s for the run
            "timeout_s": 3600 + 3 * (600 + 3600) + 3 * 2 * 30 + 300,
            "publish_secrets": ["HF_TOKEN"],  # the hub store's token, bound around mlci publish
            "secrets": ["DATA_TOKEN"],  # project.yaml's secrets, bound around mlci run
            "time_limit": {"build_s": 3600, "attempts": 3, "stages_s": 4200, "slack_s": 480},
            "gpu_node": True,
            "gpu_stages": ["prep", "train"],
        },
    ]


@pytest.mark.parametrize(
    ("gpus", "count", "spec"),
    [("auto", -1, "auto"), ("all", -1, "all"), ("none", 0, "none"), ("1", 1, "1"), ("[2]", 1, "2")],
)
def test_plan_gpu_counts(repo, capsys, gpus, count, spec):
    write(repo, "projects/tabular/project.yaml", f"gpus: {gpus}\ntimeout: 5m\n")
    commit(repo)
    (tabular,) = plan(repo, capsys)["projects"]
    assert (tabular["gpus"], tabular["gpus_spec"]) == (count, spec)


def test_plan_projects_narrows_and_force_widens(repo, capsys):
    write(repo, "projects/vision/run.sh", "echo v2\n")
    commit(repo)
    got = plan(repo, capsys, "--projects", "vision,nlp")
    assert [p["name"] for p in got["projects"]] == ["vision"]
    assert got["skipped"] == ["nlp"]
    forced = plan(repo, capsys, "--projects", " nlp , vision", "--force")
    assert [p["name"] for p in forced["projects"]] == ["nlp", "vision"]
    assert [p["name"] for p in plan(repo, capsys, "--force")["projects"]] == ["nlp", "tabular", "vision"]


@pytest.mark.parametrize(
    ("projects", "message"),
    [("ghost", "no project 'ghost'"), ("vision;id", "'vision;id' is not a project name")],
)
def test_plan_refuses_unknown_or_malformed_projects(repo, capsys, projects, message):
    code, out, err = cli(repo, capsys, "plan", "--projects", projects, "--json")
    assert code == 2 and out == ""
    assert message in err


def test_an_invalid_project_at_head_is_a_located_error(repo, capsys):
    write(repo, "projects/vision/project.yaml", "gpus: 2\npublish: {aproval: true}\n")
    commit(repo)
    code, _, err = cli(repo, capsys, "plan", "--json")
    assert code == 2
    assert "projects/vision/project.yaml:2:" in err and "aproval" in err


def test_the_first_commit_plans_every_project(tmp_path, capsys):
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "mlci.yaml", MANIFEST)
    write(root, "projects/one/project.yaml", "gpus: 1\n")
    commit(root)
    got = plan(root, capsys)
    assert got["base"] is None and [p["name"] for p in got["projects"]] == ["one"]


def test_plan_text_output(repo, capsys):
    write(repo, "projects/vision/run.sh", "echo v2\n")
    commit(repo)
    code, out, _ = cli(repo, capsys, "plan")
    assert code == 0
    assert "vision: gpus=2, store=hub, approval by ml-leads" in out
    assert "time limit 16680s = build 3600s + 3 attempt(s) × stages 4200s + slack 480s" in out
    assert "secrets for mlci run: DATA_TOKEN" in out
    assert "secrets for mlci publish: HF_TOKEN" in out


def test_branch_names_resolve_against_origin_in_a_jenkins_clone(repo, tmp_path, capsys):
    # Jenkins clones with only remote-tracking branches: main and release/x exist only as origin/*
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "release/x")
    write(repo, "projects/tabular/model.py", "m = 2\n")
    head = commit(repo)
    clone = tmp_path / "jenkins-clone"
    git(tmp_path, "clone", "-q", "--no-checkout", str(repo), str(clone))
    git(clone, "checkout", "-q", "--detach", head)
    for branch in git(clone, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split():
        git(clone, "branch", "-q", "-D", branch)
    got = plan(clone, capsys, "--base", "main", "--head", "release/x")
    assert (got["base"], got["head"]) == (base, head)
    assert [p["name"] for p in got["projects"]] == ["tabular"]


def test_plan_names_the_stages_that_need_the_gpu_lease(repo, capsys):
    write(
        repo,
        "projects/vision/project.yaml",
        """\
        gpus: 2
        stages:
          - {name: prep, run: ./prep.sh, gpus: none}
          - {name: train, run: ./run.sh}
          - {name: evaluate, run: ./eval.sh, gpus: none}
        """,
    )
    write(repo, "projects/tabular/project.yaml", "gpus: 1\nstages: [{name: fit, run: ./fit.sh, gpus: none}]\n")
    commit(repo)
    got = {p["name"]: p for p in plan(repo, capsys, "--force")["projects"]}
    assert (got["vision"]["gpus"], got["vision"]["gpu_stages"], got["vision"]["gpu_node"]) == (2, ["train"], True)
    # every stage on the CPU: no GPU lease and no GPU node, whatever the project's gpus says
    assert (got["tabular"]["gpus"], got["tabular"]["gpu_stages"], got["tabular"]["gpu_node"]) == (1, [], False)
    code, out, _ = cli(repo, capsys, "plan", "--force", "--projects", "vision,tabular")
    assert code == 0
    assert "stages on the GPUs: train" in out and "stages on the GPUs: none (no GPU lease)" in out


def test_plan_max_attempts_replaces_retrain_in_the_time_limit(repo, capsys):
    (vision,) = plan(repo, capsys, "--force", "--projects", "vision", "--max-attempts", "1")["projects"]
    assert vision["time_limit"] == {"build_s": 3600, "attempts": 1, "stages_s": 4200, "slack_s": 2 * 30 + 300}
    assert vision["timeout_s"] == 3600 + 4200 + 360
    (vision,) = plan(repo, capsys, "--force", "--projects", "vision", "--max-attempts", "5")["projects"]
    assert vision["time_limit"]["attempts"] == 5 and vision["timeout_s"] == 3600 + 5 * 4200 + 5 * 2 * 30 + 300


@pytest.mark.parametrize("value", ["0", "21", "x", "2;id"])
def test_plan_refuses_a_bad_max_attempts(repo, capsys, value):
    code, out, err = cli(repo, capsys, "plan", "--force", "--max-attempts", value, "--json")
    assert code == 2 and out == ""
    assert "--max-attempts" in err and "from 1 to 20" in err


def test_auto_gpus_needs_a_gpu_node_when_any_host_has_gpus(repo, capsys):
    write(repo, "projects/tabular/project.yaml", "gpus: auto\n")
    commit(repo)
    (tabular,) = plan(repo, capsys)["projects"]
    assert tabular["gpu_node"] is True


CASC = """\
unclassified:
  lockableResourcesManager:
    declaredResources:
""" + "".join(f"      - {{name: gpu-01-gpu{i}, labels: gpu@gpu-01}}\n" for i in range(4))


def test_lockable_resources_drift_is_an_error_naming_mlci_render(repo, capsys):
    write(repo, "jenkins/casc.yaml", CASC)  # rendered when gpu-01 had 4 GPUs: matches
    commit(repo)
    assert plan(repo, capsys)["host_gpus"]["gpu-01"] == 4
    write(repo, "mlci.yaml", MANIFEST.replace("gpus: 4", "gpus: 8"))
    commit(repo)
    code, out, err = cli(repo, capsys, "plan", "--json")
    assert code == 2 and out == ""
    assert "mlci.yaml gives host gpu-01 8 GPU(s) but jenkins/casc.yaml declares 4 lockable resource(s)" in err
    assert "run `mlci render`" in err
