"""The promote job: mlciPromote() with its PROJECT, VERSION and ENV parameters.

An approval environment waits for a person with `input` outside any node (no executor is held while
it waits: the order of the recorded steps shows it), promotes with MLCI_PROMOTE_APPROVED set and the
approver as --by, then deploys host by host under the environment's deploy lock; a plain environment
never asks. Every way it can stop notifies once: failed, cancelled, rejected, not approved in time."""

from __future__ import annotations

import pytest

from .scenarios import HEAD, calls, env_plan, env_scenario, shell

PROD = env_plan(approval=True, hosts=("web-01", "web-02"))
QA = env_plan(env="qa", hosts=("gpu-01",), itest=False)
NOTIFY = "mlci notify --event={event} digits --env={env} --version=v3 --by={by}"


def promote(name: str, the_plan: dict | None, env: str = "prod", version: str = "v3", **extra) -> dict:
    params = {"PROJECT": "digits", "VERSION": version, "ENV": env}
    return env_scenario(name, "mlciPromote", the_plan, params, **extra)


SCENARIOS = [
    promote("approved", PROD, input={"Approve": {"decision": "approve", "user": "alice", "after": 600}}),
    promote("plain", QA, env="qa"),
    promote("no-deploy", env_plan(approval=True, hosts=()), input={"Approve": {"decision": "approve", "user": "bob"}}),
    promote(
        "deploy-fails",
        PROD,
        input={"Approve": {"decision": "approve", "user": "alice"}},
        sh=[{"match": r"^mlci deploy digits --env=prod", "status": 1}],
    ),
    promote(
        "itest-fails",
        PROD,
        input={"Approve": {"decision": "approve", "user": "alice"}},
        sh=[{"match": r"^mlci itest ", "status": 1}],
    ),
    promote(
        "deploy-hangs",
        QA,
        env="qa",
        sh=[{"match": r"^mlci deploy ", "seconds": 10_000, "onInterrupt": {"after": 3}}],
    ),
    promote("aborted-waiting", PROD, input={"Approve": {"decision": "abort", "user": "carol", "after": 120}}),
    promote("rejected", PROD, input={"Approve": {"decision": "reject", "user": "bob"}}),
    promote("not-approved-in-time", PROD, input={"Approve": {"decision": "never"}}),
    promote("outsider-cannot-approve", PROD, input={"Approve": {"decision": "approve", "user": "mallory"}}),
    promote("promote-fails", QA, env="qa", sh=[{"match": r"^mlci promote ", "status": 2}]),
    promote(
        "aborted-deploying",
        PROD,
        input={"Approve": {"decision": "approve", "user": "alice"}},
        sh=[{"match": r"^mlci deploy ", "seconds": 500, "onInterrupt": {"after": 2}}],
        abortAt=300,
    ),
    promote("bad-version", None, version="3"),
    promote("bad-version-shell", None, version="v3; id"),
    promote("bad-project", None, PROJECT="x"),
    promote("bad-env", None, env="prod\n--to=qa"),
    promote("wrong-plan", env_plan(env="qa"), env="prod"),
    promote("plan-fails", None, sh=[{"match": r"^mlci plan --env=", "status": 2}]),
]
# a project name that is not one, given in place of PROJECT
SCENARIOS[-4]["params"] = {"PROJECT": "digits;reboot", "VERSION": "v3", "ENV": "prod"}


def steps(r: dict) -> list[tuple]:
    """(step, stage, node) in the order they ran, for the steps that show where the build waits."""
    wanted = ("node", "input", "lock", "sh")
    return [(c["step"], c["stage"], c["node"]) for c in r["calls"] if c["step"] in wanted]


def test_an_approval_environment_waits_outside_any_node_then_promotes_and_deploys(results):
    r = results["approved"]
    assert r["result"] == "SUCCESS", (r["error"], r["log"][-10:])
    assert shell(r) == [
        "mlci plan --env=prod --projects=digits --json",
        NOTIFY.format(event="promotion-approval", env="prod", by="carol"),
        f"git checkout --quiet --detach {HEAD}",
        "MLCI_PROMOTE_APPROVED=prod mlci promote digits v3 --to=prod --by=alice",
        f"git checkout --quiet --detach {HEAD}",
        "mlci deploy digits --env=prod --version=v3",
        "mlci itest digits --env=prod",
        f"git checkout --quiet --detach {HEAD}",
        "mlci deploy digits --env=prod --version=v3",
        "mlci itest digits --env=prod",
        NOTIFY.format(event="promoted", env="prod", by="alice"),
    ]
    order = steps(r)
    (wait,) = [i for i, s in enumerate(order) if s[0] == "input"]
    assert order[wait] == ("input", "Approve", None)  # on no node at all
    assert [s[0] for s in order[:wait]] == ["node", "sh", "sh"]  # Plan: its node, the plan, the approval notice
    assert order[wait + 1] == ("node", "Promote", None)  # a node is asked for only after the approval
    (approval,) = calls(r, "input")
    assert approval["args"] == {
        "message": "Promote digits v3 to prod?",
        "ok": "Promote",
        "submitter": "alice,bob",
        "submitterParameter": "MLCI_APPROVER",
    }
    assert approval["locked"] is None  # and no lock either
    assert {"time": 3600, "unit": "SECONDS"} in [c["args"] for c in calls(r, "timeout") if c["stage"] == "Approve"]
    # the approval took 600 s, and nothing else of the build ran on a node meanwhile
    node_calls = [c for c in calls(r, "sh") if c["time"] > approval["time"]]
    assert min(c["time"] for c in node_calls) >= approval["time"] + 600


def test_the_deployment_goes_host_by_host_under_the_environment_lock(results):
    r = results["approved"]
    (lock,) = calls(r, "lock")
    assert lock["args"] == {"resource": "mlci-deploy-prod-digits"}
    deploys = [c for c in calls(r, "sh") if c["args"]["script"].startswith(("mlci deploy", "mlci itest"))]
    assert [(c["node"], c["stage"]) for c in deploys] == [
        ("web-01", "Deploy to web-01"),
        ("web-01", "Deploy to web-01"),
        ("web-02", "Deploy to web-02"),
        ("web-02", "Deploy to web-02"),
    ]
    assert all(
        c["locked"] == {"label": None, "quantity": None, "resources": ["mlci-deploy-prod-digits"]} for c in deploys
    )
    assert all(c["secrets"] == ["PROD_API_KEY"] for c in deploys)
    (promote_call,) = [c for c in calls(r, "sh") if "mlci promote" in c["args"]["script"]]
    assert promote_call["secrets"] == ["VAULT_KEY"] and promote_call["node"] == "gpu-01"
    limits = [c["args"]["time"] for c in calls(r, "timeout") if c["stage"].startswith("Deploy to")]
    assert limits == [3960, 900, 3960, 900]
    assert r["displayName"] == "#42 digits v3 to prod"
    assert "once alice or bob approves, then deploys it on web-01, web-02" in r["description"]


def test_a_plain_environment_never_asks_and_promotes_as_the_build_s_user(results):
    r = results["plain"]
    assert r["result"] == "SUCCESS", r["error"]
    assert not calls(r, "input")
    scripts = shell(r)
    assert "mlci promote digits v3 --to=qa --by=carol" in scripts
    assert not any("MLCI_PROMOTE_APPROVED" in s for s in scripts)
    assert scripts[-1] == NOTIFY.format(event="promoted", env="qa", by="carol")
    assert "mlci deploy digits --env=qa --version=v3" in scripts and not any("itest" in s for s in scripts)


def test_without_serve_or_hosts_it_promotes_only(results):
    r = results["no-deploy"]
    assert r["result"] == "SUCCESS", r["error"]
    assert not calls(r, "lock") and not any(s.startswith("mlci deploy") for s in shell(r))
    assert shell(r)[-1] == NOTIFY.format(event="promoted", env="prod", by="bob")
    assert any("nothing to deploy in prod" in line for line in r["log"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("deploy-fails", "mlci deploy to prod on web-01 exited 1 (the deployment failed)"),
        ("itest-fails", "mlci itest to prod on web-01 exited 1 (the integration test failed)"),
    ],
)
def test_a_failed_deployment_stops_the_rollout_and_notifies_once(results, name, message):
    r = results[name]
    assert r["result"] == "FAILURE"
    assert message in r["error"]
    scripts = shell(r)
    assert scripts[-1] == NOTIFY.format(event="deploy-failed", env="prod", by="alice")
    assert sum("mlci notify" in s for s in scripts) == 2  # the approval notice, then the failure
    assert not any(c["node"] == "web-02" for c in calls(r, "sh"))  # the second host keeps its version
    assert "MLCI_PROMOTE_APPROVED=prod mlci promote digits v3 --to=prod --by=alice" in scripts


def test_a_hung_deployment_is_stopped_at_its_time_limit(results):
    r = results["deploy-hangs"]
    assert r["result"] == "FAILURE"
    assert "mlci deploy to qa on gpu-01 was stopped at its time limit of 3960 s" in r["error"]
    assert shell(r)[-1] == NOTIFY.format(event="deploy-failed", env="qa", by="carol")


def test_an_abort_while_waiting_for_the_approval_notifies_cancelled_and_promotes_nothing(results):
    r = results["aborted-waiting"]
    assert r["result"] == "ABORTED"
    scripts = shell(r)
    assert not any("mlci promote" in s for s in scripts)
    assert scripts[-1] == NOTIFY.format(event="promotion-cancelled", env="prod", by="carol")
    (cancel,) = [c for c in calls(r, "sh") if "promotion-cancelled" in c["args"]["script"]]
    (wait,) = calls(r, "input")
    assert cancel["seq"] > wait["seq"] and cancel["node"] == "gpu-01"  # a node only to tell Slack


@pytest.mark.parametrize(
    ("name", "why"),
    [("rejected", "the promotion was rejected"), ("not-approved-in-time", "no approval within 3600 s")],
)
def test_rejected_or_not_approved_in_time_promotes_nothing(results, name, why):
    r = results[name]
    assert r["result"] == "ABORTED"
    assert why in r["description"]
    scripts = shell(r)
    assert not any("mlci promote" in s or "mlci deploy" in s for s in scripts)
    assert scripts[-1] == NOTIFY.format(event="promotion-cancelled", env="prod", by="carol")


def test_only_the_submitters_may_approve(results):
    r = results["outsider-cannot-approve"]
    (wait,) = calls(r, "input")
    assert wait["refused"] == "mallory is not among the submitters alice,bob"
    assert not any("mlci promote" in s for s in shell(r))
    assert r["result"] == "ABORTED" and "no approval within 3600 s" in r["description"]


def test_a_failed_promotion_deploys_nothing(results):
    r = results["promote-fails"]
    assert r["result"] == "FAILURE"
    assert "mlci promote to qa exited 2 (configuration or usage error" in r["error"]
    assert shell(r)[-1] == NOTIFY.format(event="promotion-failed", env="qa", by="carol")
    assert not calls(r, "lock")


def test_an_abort_while_deploying_notifies_deploy_cancelled(results):
    r = results["aborted-deploying"]
    assert r["result"] == "ABORTED"
    (deploy,) = [c for c in calls(r, "sh") if c["args"]["script"].startswith("mlci deploy")]
    assert deploy["interrupted"] == ["UserInterruption"]
    assert shell(r)[-1] == NOTIFY.format(event="deploy-cancelled", env="prod", by="alice")
    assert sum("mlci notify" in s for s in shell(r)) == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad-version", "VERSION must be a model version such as v3"),
        ("bad-version-shell", "VERSION must be a model version such as v3"),
        ("bad-project", "PROJECT must be a project name"),
        ("bad-env", "ENV must be an environment name"),
    ],
)
def test_hostile_parameters_run_nothing(results, name, message):
    r = results[name]
    assert r["result"] == "FAILURE"
    assert r["error"].startswith(message), r["error"]
    assert shell(r) == [] and not calls(r, "node")


def test_a_plan_for_another_environment_is_refused(results):
    r = results["wrong-plan"]
    assert r["result"] == "FAILURE"
    assert r["error"] == "mlci plan --env printed an unusable plan: it plans digits in qa, not digits in prod"
    assert not any("mlci promote" in s for s in shell(r))


def test_a_plan_that_fails_promotes_nothing(results):
    r = results["plan-fails"]
    assert r["result"] == "FAILURE"
    assert shell(r) == ["mlci plan --env=prod --projects=digits --json"]
