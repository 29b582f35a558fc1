"""The deploy job: mlciDeploy() with PROJECT, VERSION (empty: the version current in ENV) and ENV, as
a person, `mlci trigger --deploy` or the webhook's deploy route starts it: the parameters are checked
whatever started it, the environment's hosts take the deployment one after another, and the outcome
is notified once."""

from __future__ import annotations

import pytest

from .scenarios import HEAD, WEBHOOK_CAUSE, calls, env_plan, env_scenario, shell

PROD = env_plan(hosts=("web-01", "web-02"))


def deploy(name: str, the_plan: dict | None, version: str = "", env: str = "prod", **extra) -> dict:
    params = {"PROJECT": "digits", "VERSION": version, "ENV": env}
    return env_scenario(name, "mlciDeploy", the_plan, params, **extra)


SCENARIOS = [
    deploy("current-from-the-webhook", PROD, causes=[WEBHOOK_CAUSE]),
    deploy("a-version", env_plan(itest=False), version="v3"),
    deploy("fails", PROD, sh=[{"match": r"^mlci deploy ", "status": 1}]),
    deploy("usage-error", PROD, sh=[{"match": r"^mlci deploy ", "status": 2}]),
    deploy("nothing-to-deploy", env_plan(hosts=())),
    deploy("aborted", PROD, sh=[{"match": r"^mlci deploy ", "seconds": 100, "onInterrupt": {"after": 1}}], abortAt=50),
    deploy("no-causes", env_plan(itest=False), causes=[]),
    deploy("bad-version", None, version="v3 && id"),
    deploy("bad-env", None, env="../prod"),
    deploy("approval-env", env_plan(approval=True), version="v2"),
]


def test_the_webhook_s_request_deploys_the_current_version_on_every_host(results):
    r = results["current-from-the-webhook"]
    assert r["result"] == "SUCCESS", (r["error"], r["log"][-10:])
    assert shell(r) == [
        "mlci plan --env=prod --projects=digits --json",
        f"git checkout --quiet --detach {HEAD}",
        "mlci deploy digits --env=prod",  # no --version: the one current in prod
        "mlci itest digits --env=prod",
        f"git checkout --quiet --detach {HEAD}",
        "mlci deploy digits --env=prod",
        "mlci itest digits --env=prod",
        "mlci notify --event=deployed digits --env=prod --by=webhook",
    ]
    assert [c["node"] for c in calls(r, "node")] == [None, None, None]  # asked for from outside each time
    assert [c["args"] for c in calls(r, "node")] == ["mlci", "web-01", "web-02"]
    assert [c["args"] for c in calls(r, "lock")] == [{"resource": "mlci-deploy-prod-digits"}]
    assert r["displayName"] == "#42 digits current to prod"
    assert r["description"] == "Deploys digits (the current version) to prod on web-01, web-02 (started by webhook)"


def test_a_named_version_by_a_person(results):
    r = results["a-version"]
    assert r["result"] == "SUCCESS", r["error"]
    assert "mlci deploy digits --env=prod --version=v3" in shell(r)
    assert not any("itest" in s for s in shell(r))
    assert shell(r)[-1] == "mlci notify --event=deployed digits --env=prod --version=v3 --by=carol"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fails", "mlci deploy to prod on web-01 exited 1 (the deployment failed)"),
        ("usage-error", "mlci deploy to prod on web-01 exited 2 (configuration or usage error)"),
    ],
)
def test_a_failure_fails_the_build_and_notifies_deploy_failed(results, name, message):
    r = results[name]
    assert r["result"] == "FAILURE"
    assert message in r["error"]
    assert shell(r)[-1] == "mlci notify --event=deploy-failed digits --env=prod --by=carol"
    assert sum("mlci notify" in s for s in shell(r)) == 1
    assert not any(c["node"] == "web-02" for c in calls(r, "sh"))


def test_a_project_without_serve_or_an_environment_without_hosts_is_a_clear_failure(results):
    r = results["nothing-to-deploy"]
    assert r["result"] == "FAILURE"
    assert r["error"].startswith("digits has nothing to deploy in prod: give it serve: in its project.yaml")
    assert shell(r)[-1] == "mlci notify --event=deploy-failed digits --env=prod --by=carol"
    assert not calls(r, "lock")


def test_an_abort_notifies_deploy_cancelled(results):
    r = results["aborted"]
    assert r["result"] == "ABORTED"
    assert shell(r)[-1] == "mlci notify --event=deploy-cancelled digits --env=prod --by=carol"
    assert not any(c["node"] == "web-02" for c in calls(r, "sh"))


def test_a_build_nobody_started_is_by_jenkins(results):
    assert shell(results["no-causes"])[-1] == "mlci notify --event=deployed digits --env=prod --by=jenkins"


@pytest.mark.parametrize(
    ("name", "message"),
    [("bad-version", "VERSION must be a model version"), ("bad-env", "ENV must be an environment name")],
)
def test_hostile_parameters_run_nothing(results, name, message):
    r = results[name]
    assert r["result"] == "FAILURE" and r["error"].startswith(message)
    assert shell(r) == [] and not calls(r, "node")


def test_it_never_asks_for_an_approval(results):
    """A deployment is not a promotion: what may run in an approval environment is mlci deploy's to decide."""
    r = results["approval-env"]
    assert r["result"] == "SUCCESS" and not calls(r, "input")
    assert not any("MLCI_PROMOTE_APPROVED" in s for s in shell(r))
