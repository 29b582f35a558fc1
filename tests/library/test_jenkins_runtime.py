"""The release under the Jenkins behaviour a permissive stub would hide: secrets, job ids, time limits,
abort, approval, disk, locks, GPU nodes."""

from __future__ import annotations

from .scenarios import HEAD, calls, entry, gpu_locks, job, plan, record, run_call, scenario, shell

TOKEN = "hf_s3cr3t_value"
LIMIT = {"timeout_s": 600, "time_limit": {"build_s": 300, "attempts": 1, "stages_s": 300}}


def final_record(name: str, overall: str) -> dict:
    return {f"{record(name)}/status.json": {"jobId": job(name), "project": name, "overallStatus": overall}}


def slow_run(name: str, seconds: int, *, writes_after: int = 8, overall: str = "Cancelled") -> dict:
    """`mlci run NAME` that takes `seconds`; interrupted, it writes its final record `writes_after` s later."""
    return {
        "match": rf"^mlci run {name} ",
        "seconds": seconds,
        "onInterrupt": {"after": writes_after, "files": final_record(name, overall)},
    }


SCENARIOS = [
    scenario(
        "project-secrets",
        {**plan(entry("vision", 1, secrets=["HF_TOKEN"], store="hub", publish_secrets=["HUB_TOKEN"]))},
        credentials={"HF_TOKEN": TOKEN, "HUB_TOKEN": "other"},
    ),
    scenario("ids-release", plan(entry("vision", 1)), build=12),
    scenario(
        "ids-project",
        plan(entry("vision", 1)),
        step="mlciProject",
        args={"project": "vision"},
        build=12,
        job="mlci-project-vision",
        params={"PUBLISH": True},
    ),
    scenario("time-limit", plan(entry("vision", 1, **LIMIT)), sh=[slow_run("vision", 10_000, overall="Cancelled")]),
    scenario("abort", plan(entry("vision", 1, **LIMIT)), sh=[slow_run("vision", 10_000)], abortAt=100),
    scenario(
        "abort-record-never-final",
        plan(entry("vision", 1, **LIMIT)),
        sh=[slow_run("vision", 10_000, writes_after=500)],
        abortAt=100,
    ),
    scenario(
        "approvals-hold-nothing",
        plan(
            entry("a", 0, approval=True, approval_timeout_s=86400),
            entry("b", 0, approval=True, approval_timeout_s=86400),
            entry("c", 0),
        ),
        input={"a": "never", "b": "never"},
        executors=2,
    ),
    scenario(
        "lock-drift",
        {**plan(entry("big", 4, gpus_spec="4")), "host_gpus": {"gpu-01": 4}},
        resources={"gpu@gpu-01": ["gpu-01-gpu0", "gpu-01-gpu1"]},  # the rendered JCasC still has 2
    ),
    scenario(
        "whole-host-not-overtaken",
        plan(entry("a", 1), entry("big", -1, gpus_spec="all"), entry("c", 1)),
        resources={"gpu@gpu-01": ["gpu-01-gpu0", "gpu-01-gpu1"]},
        sh=[
            {"match": r"^mlci run a ", "seconds": 100},
            {"match": r"^mlci run big ", "seconds": 50},
            {"match": r"^mlci run c ", "seconds": 1000},
        ],
        executors=4,
    ),
    scenario(
        "gpu-project-on-gpu-node",
        {**plan(entry("big", -1, gpus_spec="auto", gpu_node=True)), "host_gpus": {"cpu-01": 0, "gpu-01": 2}},
        nodes=[
            {"name": "cpu-01", "labels": ["mlci", "docker", "cpu-01"], "env": {"MLCI_HOST": "cpu-01"}},
            {"name": "gpu-01", "labels": ["mlci", "docker", "gpu", "gpu-01"], "env": {"MLCI_HOST": "gpu-01"}},
        ],
        resources={"gpu@gpu-01": ["gpu-01-gpu0", "gpu-01-gpu1"]},
    ),
]


def test_project_secrets_are_bound_around_mlci_run_only_and_masked(results):
    r = results["project-secrets"]
    assert r["result"] == "SUCCESS", r["error"]
    bound = {c["args"]["script"].split(" --")[0].split(" ")[1]: c["secrets"] for c in calls(r, "sh")}
    assert bound["run"] == ["HF_TOKEN"]
    assert bound["publish"] == ["HUB_TOKEN"]  # the store's secret, not the project's
    assert bound["plan"] == [] and bound["notify"] == []
    assert not any(TOKEN in line for line in r["log"])


def test_job_ids_are_unique_across_jobs_and_traceable_to_the_commit(results):
    release = run_call(results["ids-release"], "vision")["args"]["script"]
    project = run_call(results["ids-project"], "vision")["args"]["script"]
    assert release.endswith(f"--job-id={HEAD[:12]}-mlci-release-12 --gpus=device=0")
    assert project.endswith(f"--job-id={HEAD[:12]}-mlci-project-vision-12 --gpus=device=0")


def test_an_expired_time_limit_fails_with_the_reason_after_the_record_is_final(results):
    r = results["time-limit"]
    assert r["result"] == "FAILURE"
    assert "vision: stopped at its time limit of 600 s (image build 300 s + 1 attempt(s) × stages 300 s)" in r["error"]
    (run,) = [c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci run")]
    assert run["interrupted"] == ["ExceededTimeout"]
    (archive,) = calls(r, "archiveArtifacts")
    assert archive["time"] >= 600 + 8  # archived once mlci had written its final record
    assert shell(r)[-1] == f"mlci notify --event=failed vision {job('vision')}"
    assert "vision: Cancelled" in r["description"]


def test_an_abort_waits_for_the_final_record_ends_aborted_and_says_cancelled(results):
    r = results["abort"]
    assert r["result"] == "ABORTED" and r["errorType"] == "FlowInterruptedException"
    (run,) = [c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci run")]
    assert run["interrupted"] == ["UserInterruption"]
    (archive,) = calls(r, "archiveArtifacts")
    assert archive["time"] >= 100 + 8
    assert shell(r)[-1] == f"mlci notify --event=cancelled vision {job('vision')}"
    assert not any(" publish " in s for s in shell(r))
    assert "vision: Cancelled" in r["description"]


def test_the_wait_for_the_final_record_is_bounded(results):
    r = results["abort-record-never-final"]
    assert r["result"] == "ABORTED"
    (archive,) = calls(r, "archiveArtifacts")
    assert 160 <= archive["time"] < 600
    assert any("was not final 60 s after the interruption" in line for line in r["log"])


def test_waiting_for_approval_holds_no_executor(results):
    r = results["approvals-hold-nothing"]
    asks = calls(r, "input")
    assert len(asks) == 2 and all(a["node"] is None for a in asks)
    # with 2 executors, c trains while a and b wait for a person (not 24 h later)
    assert run_call(r, "c")["time"] < 3600
    assert r["result"] == "UNSTABLE"  # neither approval came: not published


def test_a_lock_jenkins_cannot_grant_times_out_naming_mlci_render(results):
    r = results["lock-drift"]
    assert r["result"] == "FAILURE"
    assert "waited 21600 s for 4 GPU(s) of gpu@gpu-01" in r["error"]
    assert "run `mlci render`" in r["error"]
    assert not any(s.startswith("mlci run") for s in shell(r))


def test_a_whole_host_request_is_not_overtaken_by_later_single_gpu_requests(results):
    r = results["whole-host-not-overtaken"]
    assert r["result"] == "SUCCESS", r["error"]
    # a holds one GPU until t=100; big asked for both before c asked for one, so big goes first
    assert run_call(r, "big")["time"] == 100
    assert run_call(r, "c")["time"] == 150
    assert [c["args"].get("quantity") for c in gpu_locks(r)] == [1, None, 1]


def test_a_gpu_project_runs_only_on_a_gpu_node(results):
    r = results["gpu-project-on-gpu-node"]
    assert r["result"] == "SUCCESS", r["error"]
    run = run_call(r, "big")
    assert run["node"] == "gpu-01" and run["args"]["script"].endswith("--gpus=0,1")
    assert [c["args"] for c in calls(r, "node")][1] == "mlci && gpu"
