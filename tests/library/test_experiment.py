"""The experiment job: mlciExperiment() with its REF, PROJECTS, EXPERIMENT and OVERRIDES parameters.

It trains through mlciTrain exactly as a release does (GPU lease, time limit, cleanup backstop) but
never publishes nor asks for an approval, and the overrides reach `mlci run` only as a file it reads
(--set-file): no `sh` script of the build contains any of their text. A second scenario runs the
scripts for real, with a fake `mlci` on PATH that hands `run` to the real CLI's argument parsing:
the values mlci gets are exactly those typed into OVERRIDES, and none of them ran as a command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from . import harness
from .scenarios import HEAD, calls, entry, gpu_locks, keep_command, plan, scenario, shell

JOB = f"{HEAD[:12]}-mlci-experiment-42"
# As a browser posts a Jenkins text parameter: CRLF line ends. Every line is something a shell would run.
HOSTILE = [
    "model.name=$(touch /tmp/mlci-pwned)",
    "model.tag=x`touch /tmp/mlci-pwned`;echo x",
    'model.note="\'; rm -rf / #"',
    'model.quote=it\'s "fine" && exit 3 | tee /tmp/mlci-pwned',
    "model.lr=0.01",
]
OVERRIDES = "\r\n".join(HOSTILE) + "\r\n'; rm -rf / #\r\n"
FRAGMENTS = ["$(", "`", "rm -rf /", "pwned", "tee ", "exit 3", "fine", "model.", "0.01", "'; "]


def experiment(name: str, the_plan: dict | None, **params) -> dict:
    values = {"REF": "main", "PROJECTS": "vision", "EXPERIMENT": "lr-sweep", "OVERRIDES": OVERRIDES, **params}
    return scenario(name, the_plan, step="mlciExperiment", job="mlci-experiment", params=values)


TWO = plan(entry("vision", 2, approval=True, submitter="alice"), entry("nlp", 0))

SCENARIOS = [
    experiment("two-projects", TWO, PROJECTS="vision, nlp\nvision"),
    experiment("no-overrides", plan(entry("vision", 1)), OVERRIDES="\r\n  \r\n"),
    experiment("bad-experiment", None, EXPERIMENT="x'; rm -rf / #"),
    experiment("bad-experiment-newline", None, EXPERIMENT="lr\nsweep"),
    experiment("bad-projects", None, PROJECTS="vision;reboot"),
    experiment("no-projects", None, PROJECTS=" , "),
    experiment("bad-ref", None, REF="main; touch /tmp/mlci-pwned"),
    experiment("option-ref", None, REF="--upload-pack=touch"),
    experiment("wrong-plan", plan(entry("nlp", 1))),
    {
        **experiment("time-limit", plan(entry("vision", 1, timeout_s=600))),
        "sh": [
            {"match": r"^mlci run ", "seconds": 5000, "onInterrupt": {"after": 2}},
            {"match": r"^mlci plan ", "stdout": plan(entry("vision", 1, timeout_s=600))},
        ],
    },
]


def keep(name: str) -> str:
    return keep_command(name).replace("-mlci-release-", "-mlci-experiment-")


def branch(name: str, gpus: str) -> list[str]:
    return [
        f"git checkout --quiet --detach {HEAD}",
        f"mlci notify --event=started {name} {JOB}",
        f"mlci run {name} --job-id={JOB} --gpus={gpus} --experiment=lr-sweep"
        f" --set-file=.mlci/experiments/{name}/{JOB}.overrides",
        f"mlci cleanup {name} --job={JOB}",
        keep(name),
    ]


def test_each_project_trains_as_an_experiment_under_the_release_gpu_lease(results):
    r = results["two-projects"]
    assert r["result"] == "SUCCESS", (r["error"], r["log"][-10:])
    scripts = shell(r)
    assert scripts[0] == "mlci plan --head=main --projects=vision,nlp --force --json"
    by_stage = {
        stage: [c["args"]["script"] for c in calls(r, "sh") if c["stage"] == stage] for stage in ("vision", "nlp")
    }
    assert by_stage == {"vision": branch("vision", "0,1"), "nlp": branch("nlp", "none")}
    # the same lease as a release: the per-host turnstile, then 2 GPUs of the host, around mlci run
    assert [c["args"] for c in gpu_locks(r)] == [{"label": "gpu@gpu-01", "variable": "MLCI_LOCKED", "quantity": 2}]
    run = next(c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci run vision "))
    assert run["locked"]["resources"] == ["gpu-01-gpu0", "gpu-01-gpu1"]
    limits = [c["args"] for c in calls(r, "timeout") if c["stage"] == "vision"]
    assert {"time": 3600, "unit": "SECONDS"} in limits  # the project's time limit around mlci run
    assert r["displayName"] == f"#42 lr-sweep @ {HEAD[:7]}"
    assert "never published" in r["description"]


def test_it_never_publishes_nor_waits_for_an_approval(results):
    r = results["two-projects"]
    assert not calls(r, "input") and not calls(r, "stash")
    assert not any(s.startswith("mlci publish") for s in shell(r))
    assert any("not published" in line for line in r["log"])


def test_overrides_reach_mlci_only_as_a_file(results):
    r = results["two-projects"]
    writes = calls(r, "writeFile")
    assert [(w["stage"], w["node"], w["args"]) for w in writes] == [
        (name, "gpu-01", {"file": f".mlci/experiments/{name}/{JOB}.overrides", "text": OVERRIDES, "encoding": "UTF-8"})
        for name in ("vision", "nlp")
    ]
    for script in shell(r):
        for fragment in FRAGMENTS:
            assert fragment not in script, (fragment, script)
    # written before the GPUs are locked, on the node that trains
    first_lock = min(c["seq"] for c in gpu_locks(r))
    assert all(w["seq"] < first_lock for w in writes if w["stage"] == "vision")


def test_without_overrides_no_file_is_written(results):
    r = results["no-overrides"]
    assert r["result"] == "SUCCESS", r["error"]
    assert not calls(r, "writeFile")
    assert f"mlci run vision --job-id={JOB} --gpus=device=0 --experiment=lr-sweep" in shell(r)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad-experiment", "EXPERIMENT must be a name"),
        ("bad-experiment-newline", "EXPERIMENT must be a name"),
        ("bad-projects", "PROJECTS: vision;reboot is not a project name"),
        ("no-projects", "PROJECTS: name at least one project"),
        ("bad-ref", "REF must be a branch, tag or commit"),
        ("option-ref", "REF must be a branch, tag or commit"),
    ],
)
def test_hostile_parameters_run_nothing(results, name, message):
    r = results[name]
    assert r["result"] == "FAILURE"
    assert r["error"].startswith(message), r["error"]
    assert shell(r) == [] and not calls(r, "node") and not calls(r, "writeFile")


def test_a_plan_for_other_projects_is_refused(results):
    r = results["wrong-plan"]
    assert r["result"] == "FAILURE"
    assert r["error"] == "mlci plan returned projects nlp instead of vision"
    assert shell(r) == ["mlci plan --head=main --projects=vision --force --json"]


def test_the_time_limit_stops_it_and_the_backstop_still_runs(results):
    r = results["time-limit"]
    assert r["result"] == "FAILURE"
    assert "stopped at its time limit of 600 s" in r["error"]
    run = next(c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci run vision "))
    assert run["interrupted"] == ["ExceededTimeout"]
    assert f"mlci cleanup vision --job={JOB}" in shell(r)


# ------------------------------------------------------------------ for real: what mlci receives

FAKE_MLCI = """\
#!{python}
import json, os, sys
args = sys.argv[1:]
if args[0] == "plan":
    print(open(os.environ["PLAN"]).read())
elif args[0] == "run":
    from mlci.commands import run
    from mlci.run.overrides import effective_config

    def report(ctx, root, manifest, spec, options):
        config = effective_config(spec.path, spec.name, options.overrides).content.decode()
        overrides = [[o.key, o.value] for o in options.overrides]
        seen = {{"argv": args, "experiment": options.experiment, "overrides": overrides, "config": config}}
        with open(os.environ["SEEN"], "a") as out:
            out.write(json.dumps(seen) + "\\n")

    run.run_and_report = report
    from mlci.cli import main
    sys.exit(main(["--root", os.getcwd(), *args]))
"""  # notify and cleanup: nothing to do here


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("experiment-real")
    ws = tmp / "ws"
    project = ws / "projects" / "vision"
    project.mkdir(parents=True)
    (ws / "mlci.yaml").write_text("version: 1\nname: t\n")
    (project / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    (project / "project.yaml").write_text("stages:\n  - {name: train, run: ./run.sh}\ngate: {metric: acc, min: 0.9}\n")
    (project / "config.yaml").write_text("model: {name: a, tag: b, note: c, quote: d, lr: 0.1}\n")
    (ws / ".gitignore").write_text(".mlci/\n")
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "one")
    commit = git(ws, "rev-parse", "HEAD")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "mlci").write_text(FAKE_MLCI.format(python=sys.executable))
    (bin_dir / "mlci").chmod(0o755)
    the_plan = {**plan(entry("vision", 1)), "commit": commit, "head": commit}
    (tmp / "plan.json").write_text(json.dumps(the_plan))
    good = "\r\n".join(HOSTILE) + "\r\n"
    run = {
        **scenario("real", None, step="mlciExperiment", job="mlci-experiment"),
        "params": {"REF": "main", "PROJECTS": "vision", "EXPERIMENT": "lr-sweep", "OVERRIDES": good},
        "realSh": True,
        "workdir": str(ws),
        "shEnv": {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(harness.REPO),
            "PLAN": str(tmp / "plan.json"),
            "SEEN": str(tmp / "seen.jsonl"),
            "HOME": str(tmp),
        },
    }
    bad = {**run, "name": "real-bad", "params": {**run["params"], "OVERRIDES": OVERRIDES}}
    results = harness.run(scenarios=[run, bad], timeout=300)["scenarios"]
    seen_file = tmp / "seen.jsonl"
    assert seen_file.exists(), (results["real"]["error"], results["real"]["log"][-30:])
    seen = [json.loads(line) for line in seen_file.read_text().splitlines()]
    return {"results": results, "seen": seen, "commit": commit}


def test_mlci_receives_the_values_exactly_as_typed(real):
    r = real["results"]["real"]
    assert r["result"] == "SUCCESS", (r["error"], r["log"][-20:])
    first = real["seen"][0]
    job = f"{real['commit'][:12]}-mlci-experiment-42"
    assert first["argv"] == [
        "run", "vision", f"--job-id={job}", "--gpus=device=0", "--experiment=lr-sweep",
        f"--set-file=.mlci/experiments/vision/{job}.overrides",
    ]  # fmt: skip
    assert first["experiment"] == "lr-sweep"
    assert first["overrides"] == [
        ["model.name", "$(touch /tmp/mlci-pwned)"],
        ["model.tag", "x`touch /tmp/mlci-pwned`;echo x"],
        ["model.note", "'; rm -rf / #"],
        ["model.quote", 'it\'s "fine" && exit 3 | tee /tmp/mlci-pwned'],
        ["model.lr", 0.01],
    ]
    assert "note: '''; rm -rf / #'" in first["config"] and "lr: 0.01" in first["config"]
    assert not Path("/tmp/mlci-pwned").exists()


def test_a_line_mlci_refuses_fails_the_run_with_usage_error(real):
    r = real["results"]["real-bad"]
    assert r["result"] == "FAILURE"
    assert "configuration or usage error (mlci run exited 2)" in r["error"]
    assert len(real["seen"]) == 1  # only the good scenario reached the run
    assert any("line 6: --set" in line for line in r["log"]), r["log"][-20:]
    assert not Path("/tmp/mlci-pwned").exists()


def test_the_rendered_experiment_jenkinsfile_compiles_and_is_one_library_step():
    jenkinsfile = harness.REPO / "jenkins" / "experiment.Jenkinsfile"
    assert jenkinsfile.read_text().endswith("@Library('mlci') _\nmlciExperiment()\n")
    assert harness.run(compile=[jenkinsfile])["compile"] == {str(jenkinsfile): None}
