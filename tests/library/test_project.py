"""The per-project manual job: mlciProject(project: NAME) with its GPUS and PUBLISH parameters."""

from __future__ import annotations

from .scenarios import (
    HEAD,
    calls,
    cleanup_command,
    entry,
    gpu_locks,
    job,
    keep_command,
    plan,
    release_commands,
    run_call,
    scenario,
    shell,
)

PLAN_VISION = "mlci plan --head=HEAD --projects=vision --force --json"


def project(name: str, the_plan: dict | None, params: dict | None = None, **extra) -> dict:
    return scenario(name, the_plan, step="mlciProject", args={"project": "vision"}, params=params or {}, **extra)


SCENARIOS = [
    project("defaults", plan(entry("vision", 2))),
    project("publish", plan(entry("vision", 2)), {"PUBLISH": True}),
    project("cpu-override", plan(entry("vision", 2)), {"GPUS": "none", "PUBLISH": True}),
    project("all-override", plan(entry("vision", 1)), {"GPUS": "all"}),
    project("count-override", plan(entry("vision", 1)), {"GPUS": "3"}),
    project("bad-gpus", plan(entry("vision", 1)), {"GPUS": "2; reboot"}),
    project("wrong-plan", plan(entry("nlp", 1))),
    project("max-attempts", plan(entry("vision", 2)), {"MAX_ATTEMPTS": " 3 "}),
    project("max-attempts-empty", plan(entry("vision", 2)), {"MAX_ATTEMPTS": ""}),
    *(
        project(f"bad-max-attempts-{i}", plan(entry("vision", 1)), {"MAX_ATTEMPTS": bad})
        for i, bad in enumerate(["0", "21", "3; reboot", "$(id)", "-1", "1.5", "３"])
    ),
    scenario("injected-name", step="mlciProject", args={"project": "vision'; rm -rf / #"}),
]


def test_trains_without_publishing_by_default(results):
    r = results["defaults"]
    assert r["result"] == "SUCCESS", r["error"]
    assert shell(r) == [
        PLAN_VISION,
        f"git checkout --quiet --detach {HEAD}",
        f"mlci notify --event=started vision {job('vision')}",
        f"mlci run vision --job-id={job('vision')} --gpus=0,1",
        cleanup_command("vision"),
        keep_command("vision"),
    ]
    assert [c["args"]["quantity"] for c in gpu_locks(r)] == [2]
    assert r["displayName"] == f"#42 vision @ {HEAD[:7]}"
    assert any("not published" in line for line in r["log"])


def test_publish_parameter_publishes(results):
    r = results["publish"]
    assert shell(r) == [PLAN_VISION, *release_commands("vision", "0,1")]


def test_gpus_parameter_overrides_the_project(results):
    assert run_call(results["cpu-override"], "vision")["args"]["script"].endswith("--gpus=none")
    assert not calls(results["cpu-override"], "lock")
    assert [c["args"] for c in gpu_locks(results["all-override"])] == [
        {"label": "gpu@gpu-01", "variable": "MLCI_LOCKED"}
    ]
    assert [c["args"]["quantity"] for c in gpu_locks(results["count-override"])] == [3]
    assert run_call(results["count-override"], "vision")["args"]["script"].endswith("--gpus=0,1,2")


def test_a_bad_gpus_parameter_fails_before_anything_runs(results):
    r = results["bad-gpus"]
    assert r["result"] == "FAILURE"
    assert r["error"].startswith("GPUS must be empty")
    assert shell(r) == []


def test_a_plan_for_another_project_is_refused(results):
    r = results["wrong-plan"]
    assert r["result"] == "FAILURE"
    assert r["error"] == "mlci plan did not return project vision"
    assert shell(r) == [PLAN_VISION]


def test_an_injected_project_name_runs_nothing(results):
    r = results["injected-name"]
    assert r["result"] == "FAILURE"
    assert r["error"].startswith("mlciProject: project must be a project name")
    assert shell(r) == [] and not calls(r, "node")


def test_max_attempts_reaches_the_plan_and_the_run_as_its_own_word(results):
    r = results["max-attempts"]
    assert r["result"] == "SUCCESS", r["error"]
    assert shell(r)[0] == "mlci plan --head=HEAD --projects=vision --force --max-attempts 3 --json"
    assert run_call(r, "vision")["args"]["script"] == (
        f"mlci run vision --job-id={job('vision')} --gpus=0,1 --max-attempts 3"
    )


def test_an_empty_max_attempts_keeps_the_project_setting(results):
    r = results["max-attempts-empty"]
    assert r["result"] == "SUCCESS", r["error"]
    assert "--max-attempts" not in " ".join(shell(r))


def test_a_bad_max_attempts_fails_before_anything_runs(results):
    for i in range(7):
        r = results[f"bad-max-attempts-{i}"]
        assert r["result"] == "FAILURE"
        assert r["error"].startswith("MAX_ATTEMPTS must be empty"), r["error"]
        assert shell(r) == [] and not calls(r, "node")
