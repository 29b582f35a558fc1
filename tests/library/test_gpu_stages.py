"""The GPU lease follows the plan's gpu_stages: a project whose every stage says `gpus: none` takes no
GPU lock at all (in a release and in the per-project job, whatever GPUS says); one with a GPU stage
leases as before; a plan without gpu_stages (an older mlci) leases as before; a hostile list is refused."""

from __future__ import annotations

from .scenarios import calls, entry, gpu_locks, job, plan, run_call, scenario, shell

MIXED = plan(
    entry("sim", 2, gpus_spec="2", gpu_stages=[]),
    entry("vision", 1, gpus_spec="1", gpu_stages=["train"]),
    entry("legacy", 1, gpus_spec="1"),
)

SCENARIOS = [
    scenario("mixed", MIXED),
    scenario("all-cpu-whole-host", plan(entry("big", -1, gpus_spec="all", gpu_stages=[]))),
    scenario(
        "project-all-cpu",
        plan(entry("sim", 1, gpu_stages=[])),
        step="mlciProject",
        args={"project": "sim"},
        params={"GPUS": "2"},
    ),
    scenario("bad-stages", plan(entry("vision", 1, gpu_stages=["train; id"]))),
    scenario("not-a-list", plan(entry("vision", 1, gpu_stages="train"))),
]


def test_a_project_whose_every_stage_is_cpu_takes_no_gpu_lock(results):
    r = results["mixed"]
    assert r["result"] == "SUCCESS", r["error"]
    sim = run_call(r, "sim")
    assert sim["args"]["script"] == f"mlci run sim --job-id={job('sim')} --gpus=none"
    assert sim["locked"] is None
    assert any("sim: every stage runs with gpus: none; no GPU lease" in line for line in r["log"])
    # not even the turnstile: only the two GPU projects pass it
    turnstiles = [c for c in calls(r, "lock") if "resource" in c["args"]]
    assert sorted(c["stage"] for c in turnstiles) == ["legacy", "vision"]
    assert sorted((c["stage"], c["args"]["quantity"]) for c in gpu_locks(r)) == [("legacy", 1), ("vision", 1)]
    assert run_call(r, "vision")["locked"]["resources"] and run_call(r, "legacy")["locked"]["resources"]


def test_a_whole_host_project_on_the_cpu_waits_for_nothing(results):
    r = results["all-cpu-whole-host"]
    assert r["result"] == "SUCCESS", r["error"]
    assert not calls(r, "lock")
    assert run_call(r, "big")["args"]["script"].endswith("--gpus=none")


def test_the_gpus_parameter_does_not_lease_for_cpu_only_stages(results):
    r = results["project-all-cpu"]
    assert r["result"] == "SUCCESS", r["error"]
    assert not calls(r, "lock")
    assert run_call(r, "sim")["args"]["script"].endswith("--gpus=none")


def test_gpu_stages_that_are_not_stage_names_are_refused_before_anything_runs(results):
    for name in ("bad-stages", "not-a-list"):
        r = results[name]
        assert r["result"] == "FAILURE"
        assert "gpu_stages is not a list of stage names" in r["error"], r["error"]
        assert shell(r) == ["mlci plan --head=HEAD --json"] and not calls(r, "lock")
