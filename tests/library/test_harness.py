"""The harness itself behaves like Jenkins where the library depends on it: a stub that accepted
anything, never interrupted, never expired and never queued would let library defects pass."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from . import harness

TABLE = json.loads((Path(__file__).parent / "steps.json").read_text())


def pipeline(name: str, script: str, **extra) -> dict:
    return {"name": name, "step": "script", "script": script, "expectHarnessError": True, **extra}


GPUS = {"gpu@gpu-01": ["gpu-01-gpu0", "gpu-01-gpu1"]}

SCENARIOS = [
    pipeline("misspelled", "node('mlci') { sh(script: 'true', returnStaus: true) }"),
    pipeline("wrong-type", "timeout(time: '10', unit: 'SECONDS') { echo 'x' }"),
    pipeline("unknown-unit", "timeout(time: 10, unit: 'SECOND') { echo 'x' }"),
    pipeline("lock-typo", "lock(lable: 'gpu@gpu-01') { echo 'x' }", resources=GPUS),
    pipeline("outside-node", "sh 'true'"),
    pipeline("no-body", "node('mlci')"),
    pipeline("both-returns", "node('mlci') { sh(script: 'x', returnStatus: true, returnStdout: true) }"),
    pipeline(
        "interrupted-sh",
        """
        node('mlci') {
            int status = -1
            try {
                timeout(time: 5, unit: 'SECONDS') { status = sh(script: 'mlci run x', returnStatus: true) }
            } catch (e) {
                echo "caught ${e.getClass().getSimpleName()}: ${e.getCauses()[0].getClass().getSimpleName()}"
            }
            echo "status ${status}"
        }
        """,
        sh=[{"match": "mlci run", "seconds": 60, "status": 0}],
    ),
    pipeline(
        "expired",
        "node('mlci') { timeout(time: 1, unit: 'MINUTES') { sh 'long' } }",
        sh=[{"match": "long", "seconds": 3600}],
    ),
    pipeline(
        "aborted",
        "node('mlci') { sh 'long' }",
        sh=[{"match": "long", "seconds": 3600}],
        abortAt=30,
    ),
    pipeline(
        "lock-order",
        """
        parallel(
            one: { lock(label: 'gpu@gpu-01', quantity: 1) { sleep(time: 10, unit: 'SECONDS') } },
            all: { sleep(time: 1, unit: 'SECONDS'); lock(label: 'gpu@gpu-01') { echo 'all granted' } },
            late: { sleep(time: 2, unit: 'SECONDS'); lock(label: 'gpu@gpu-01', quantity: 1) {
                sleep(time: 20, unit: 'SECONDS'); echo 'late done' } },
        )
        """,
        resources=GPUS,
    ),
    pipeline("lock-forever", "lock(label: 'gpu@gpu-01', quantity: 3) { echo 'never' }", resources=GPUS),
    pipeline(
        "lock-timeout",
        "timeout(time: 30, unit: 'SECONDS') { lock(label: 'gpu@gpu-01', quantity: 3) { echo 'never' } }",
        resources=GPUS,
    ),
    pipeline(
        "interleave",
        "parallel(a: { echo 'a1'; echo 'a2' }, b: { echo 'b1'; echo 'b2' })",
    ),
    pipeline(
        "executors",
        """
        parallel(
            a: { node('mlci') { sleep(time: 100, unit: 'SECONDS') } },
            b: { node('mlci') { echo 'b got an executor' } },
        )
        """,
        executors=1,
    ),
    pipeline("no-such-label", "node('mlci && gpu') { echo 'x' }", nodes=[{"name": "cpu-01", "labels": ["mlci"]}]),
    pipeline(
        "stops-in-turn",
        """
        parallel(
            a: { node('mlci') { sh 'hung a' } },
            b: { node('mlci') { sh 'hung b' } },
            c: { node('mlci') { sh 'quick c' } },
        )
        """,
        sh=[
            {"match": "hung", "seconds": 3600, "onInterrupt": {"ignore": True}},
            {"match": "quick", "seconds": 3600, "onInterrupt": {"after": 3}},
        ],
        executors=3,
        softKillWaitS=30,
        abortAt=100,
    ),
    pipeline(
        "expired-hung",
        "node('mlci') { timeout(time: 60, unit: 'SECONDS') { sh 'hung' } }",
        sh=[{"match": "hung", "seconds": 3600, "onInterrupt": {"ignore": True}}],
        softKillWaitS=5,
    ),
    pipeline(
        "group-submitter",
        "timeout(time: 1, unit: 'HOURS') { input(message: 'ok?', submitter: 'ml-leads') }",
        input={"": "approve"},
    ),
]


@pytest.fixture(scope="module")
def results() -> dict:
    return harness.run(scenarios=SCENARIOS)["scenarios"]


def test_every_table_row_names_its_plugin_source():
    for step, row in TABLE.items():
        if not step.startswith("_"):
            assert row["source"], step


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("misspelled", "unknown parameter 'returnStaus'"),
        ("wrong-type", "parameter 'time' must be int"),
        ("unknown-unit", "parameter 'unit' must be TimeUnit"),
        ("lock-typo", "unknown parameter 'lable'"),
        ("outside-node", "Required context class hudson.FilePath is missing"),
        ("no-body", "needs a body"),
        ("both-returns", "returnStdout and returnStatus cannot be given together"),
    ],
)
def test_calls_jenkins_would_reject_fail_the_test(results, name, words):
    assert words in results[name]["harnessError"]


def test_sh_with_return_status_still_throws_the_interruption(results):
    r = results["interrupted-sh"]
    assert "caught FlowInterruptedException: ExceededTimeout" in r["log"]
    assert "status -1" in r["log"]  # returnStatus never returned
    (sh,) = [c for c in r["calls"] if c["step"] == "sh"]
    assert sh["interrupted"] == ["ExceededTimeout"]


def test_an_expired_timeout_aborts_the_build_unless_caught(results):
    r = results["expired"]
    assert r["result"] == "ABORTED" and r["errorType"] == "FlowInterruptedException"
    assert r["time"] == 60


def test_an_abort_interrupts_the_running_step(results):
    r = results["aborted"]
    assert r["result"] == "ABORTED" and r["time"] == 30
    assert "Aborted by carol" in r["log"]


def test_a_later_small_lock_request_overtakes_a_waiting_whole_host_request(results):
    # lockable-resources serves the first queued request that fits: `all` waits while `late` takes a GPU
    r = results["lock-order"]
    assert r["harnessError"] is None
    order = [line for line in r["log"] if line in ("all granted", "late done")]
    assert order == ["late done", "all granted"]


def test_a_lock_nothing_can_grant_is_a_deadlock_not_a_pass(results):
    assert "deadlock" in results["lock-forever"]["harnessError"]
    r = results["lock-timeout"]
    assert r["harnessError"] is None and r["result"] == "ABORTED" and r["time"] == 30


def test_parallel_branches_interleave(results):
    assert [line for line in results["interleave"]["log"]] == ["a1", "b1", "a2", "b2"]


def test_node_waits_for_a_free_executor(results):
    r = results["executors"]
    (echo,) = [c for c in r["calls"] if c["step"] == "echo"]
    assert echo["time"] == 100


def test_a_label_no_node_has_waits_forever(results):
    assert "an executor on a node labelled 'mlci && gpu'" in results["no-such-label"]["harnessError"]


def test_a_group_submitter_matches_no_one_in_the_local_realm(results):
    r = results["group-submitter"]
    assert r["result"] == "ABORTED" and r["time"] == 3600
    (ask,) = [c for c in r["calls"] if c["step"] == "input"]
    assert "alice is not among the submitters ml-leads" in ask["refused"]


def test_an_abort_stops_branches_one_after_another_youngest_first(results):
    # CpsFlowExecution#interrupt: every branch's stop runs on the one CPS VM thread, the youngest first;
    # a hung process holds it for the 30 s CpsThread#stop allows, a quick one for as long as it takes
    r = results["stops-in-turn"]
    assert r["result"] == "ABORTED"
    stops = {
        c["args"]["script"]: (c["terminatedAt"], c["stoppedAt"], c["survived"]) for c in r["calls"] if c["step"] == "sh"
    }
    assert stops == {"quick c": (100, 103, False), "hung b": (103, 133, True), "hung a": (133, 163, True)}


def test_an_expired_timeout_stops_a_hung_process_like_an_abort(results):
    # SIGTERM at 60, SoftKillWaitSeconds 5 for each of the two process trees, never SIGKILL
    r = results["expired-hung"]
    assert r["result"] == "ABORTED"
    (sh,) = [c for c in r["calls"] if c["step"] == "sh"]
    assert (sh["interrupted"], sh["terminatedAt"], sh["stoppedAt"], sh["survived"]) == (
        ["ExceededTimeout"],
        60,
        70,
        True,
    )


def test_concurrent_node_blocks_get_workspaces_of_their_own(tmp_path):
    # WorkspaceList#allocate: a second block on the node while the first holds the job's workspace gets
    # `<workspace>@2`, a clone of the same origin; once released, the job's workspace is handed out again.
    # Two branches running Git in one checkout race for its index.lock, which Jenkins never lets happen.
    origin, workspace = tmp_path / "origin", tmp_path / "ws"
    ident = ["-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    (origin / "README").write_text("x\n")
    subprocess.run(["git", *ident, "-C", str(origin), "add", "-A"], check=True)
    subprocess.run(["git", *ident, "-C", str(origin), "commit", "-qm", "one"], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(workspace)], check=True)
    where = "sh 'echo $(basename $(pwd)) $(git rev-parse --show-toplevel | xargs basename)'"
    script = f"""
        parallel(
            a: {{ node('mlci') {{ checkout(scm); {where.replace("echo ", "echo a ")}; sleep(time: 5, unit: 'SECONDS') }} }},
            b: {{ node('mlci') {{ checkout(scm); {where.replace("echo ", "echo b ")} }} }},
        )
        node('mlci') {{ checkout(scm); {where.replace("echo ", "echo after ")} }}
    """
    scenario = {"name": "workspaces", "step": "script", "script": script, "realSh": True, "workdir": str(workspace)}
    r = harness.run(scenarios=[scenario])["scenarios"]["workspaces"]
    assert r["result"] == "SUCCESS", r
    shown = [line for line in r["log"] if line.split(" ")[0] in ("a", "b", "after")]
    assert shown == ["a ws ws", "b ws@2 ws@2", "after ws ws"]
