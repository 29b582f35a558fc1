"""Run records on the host: with MLCI_RUNS_DIR on the node, mlciTrain reads the record
there, copies it without the model outputs into the workspace to archive it, and a publish after
approval comes back to the node that holds the record instead of stashing model weights."""

from __future__ import annotations

from .scenarios import (
    archived,
    calls,
    entry,
    job,
    keep_command,
    plan,
    record,
    scenario,
    shell,
    status_json,
)

RUNS = "/srv/mlci/runs"
NODES = [
    # listed first and matching plain `mlci`: a publish that only asked for `mlci` would land here
    {"name": "cpu-01", "labels": ["mlci", "docker"], "env": {"MLCI_HOST": "cpu-01", "MLCI_RUNS_DIR": RUNS}},
    {"name": "gpu-01", "labels": ["mlci", "docker", "gpu"], "env": {"MLCI_HOST": "gpu-01", "MLCI_RUNS_DIR": RUNS}},
]
APPROVAL = {"approval": True, "submitter": "alice", "approval_timeout_s": 600, "gpu_node": True}
HOST_PLAN = {**plan(entry("vision", 1, **APPROVAL)), "host_gpus": {"cpu-01": 0, "gpu-01": 1}}
ON_HOST = {f"{RUNS}/vision/{job('vision')}/status.json": next(iter(status_json("vision", "Succeeded", 0.95).values()))}

SCENARIOS = [
    scenario(
        "host-record-approved",
        HOST_PLAN,
        nodes=NODES,
        resources={"gpu@gpu-01": ["gpu-01-gpu0"]},
        files=ON_HOST,
        input={"vision": {"decision": "approve", "user": "alice"}},
    ),
    scenario(
        "bad-runs-dir",
        plan(entry("vision", 1)),
        nodes=[{"name": "gpu-01", "labels": ["mlci", "gpu"], "env": {"MLCI_HOST": "gpu-01", "MLCI_RUNS_DIR": "runs"}}],
    ),
]


def test_the_record_is_read_on_the_host_and_archived_without_outputs(results):
    r = results["host-record-approved"]
    assert r["result"] == "SUCCESS", r["error"]
    assert keep_command("vision", RUNS) == (
        f"rm -rf {archived('vision')} && mkdir -p {archived('vision')} && if [ -d {record('vision', RUNS)} ];"
        f" then tar -C {record('vision', RUNS)} --anchored --no-wildcards-match-slash --exclude='./attempt-*/out'"
        f" -cf - . | tar -C {archived('vision')} -xf -; fi"
    )
    (keep,) = [c for c in calls(r, "sh") if c["args"]["script"] == keep_command("vision", RUNS)]
    (archive,) = calls(r, "archiveArtifacts")
    assert archive["args"]["artifacts"] == f"{archived('vision')}/**" and archive["args"]["followSymlinks"] is False
    assert r["calls"].index(keep) < r["calls"].index(archive)
    assert [c["args"]["testResults"] for c in calls(r, "junit")] == [f"{archived('vision')}/junit.xml"]
    # the build page's line comes from the record on the host
    assert "vision: Succeeded, accuracy = 0.95 (gate 0.9: passed)" in r["description"]


def test_a_publish_after_approval_returns_to_the_node_holding_the_record(results):
    r = results["host-record-approved"]
    assert not calls(r, "stash") and not calls(r, "unstash")  # no model weights copied into JENKINS_HOME
    (ask,) = calls(r, "input")
    assert ask["node"] is None and ask["locked"] is None
    run = next(c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci run vision "))
    publish = next(c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci publish vision "))
    assert run["node"] == publish["node"] == "gpu-01"
    assert [c["args"] for c in calls(r, "node")][-1] == "gpu-01"


def test_a_relative_runs_dir_on_a_node_fails_before_training(results):
    r = results["bad-runs-dir"]
    assert r["result"] == "FAILURE"
    assert r["error"].startswith("node gpu-01: MLCI_RUNS_DIR must be an absolute path")
    assert not any(s.startswith("mlci run ") for s in shell(r))
    assert shell(r)[-1] == f"mlci notify --event=failed vision {job('vision')}"
