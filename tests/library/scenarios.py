"""Builders for harness scenarios: a plan as `mlci plan --json` prints it, GPU pools, sh rules."""

from __future__ import annotations

from typing import Any

from mlci.render.jenkins import SOFT_KILL_WAIT_S

HEAD = "3f2a9c1d5e7b8a0f4c6d2e1b9a8f7c6d5e4b3a21"
BASE = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807"
HOST = "gpu-01"
BUILD = 42


def entry(name: str, gpus: int = 1, **over: Any) -> dict[str, Any]:
    project = {
        "name": name,
        "gpus": gpus,
        "approval": False,
        "submitter": None,
        "approval_timeout_s": 600,
        "store": "local",
        "timeout_s": 3600,
    }
    project.update(over)
    return project


def plan(*projects: dict[str, Any], skipped: list[str] | None = None) -> dict[str, Any]:
    return {"base": BASE, "head": HEAD, "commit": HEAD, "projects": list(projects), "skipped": skipped or []}


def gpu_pool(count: int = 4, host: str = HOST) -> dict[str, list[str]]:
    return {f"gpu@{host}": [f"{host}-gpu{i}" for i in range(count)]}


def scenario(
    name: str,
    the_plan: dict[str, Any] | None = None,
    *,
    step: str = "Jenkinsfile",
    sh: list[dict[str, Any]] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A release (the real Jenkinsfile) unless `step` names a var; `sh` rules come before the plan's.
    Nodes stop `sh` steps with the SoftKillWaitSeconds mlci renders."""
    rules = list(sh)
    if the_plan is not None:
        rules.append({"match": r"^mlci plan ", "stdout": the_plan})
    return {
        "name": name,
        "step": step,
        "build": BUILD,
        "resources": gpu_pool(),
        "sh": rules,
        "softKillWaitS": SOFT_KILL_WAIT_S,
        **extra,
    }


def job(name: str, build: int = BUILD, job_name: str = "mlci-release") -> str:
    """The job id Jenkins gives a project's run: commit, Jenkins job and build number."""
    return f"{HEAD[:12]}-{job_name}-{build}"


def record(name: str, runs_dir: str | None = None) -> str:
    """Where mlci run writes the record: the workspace's .mlci/runs, or the node's MLCI_RUNS_DIR."""
    return f"{runs_dir or '.mlci/runs'}/{name}/{job(name)}"


def archived(name: str) -> str:
    """The workspace copy of the record (outputs left out) that Jenkins archives."""
    return f".mlci/archive/{name}/{job(name)}"


def keep_command(name: str, runs_dir: str | None = None) -> str:
    """The one `sh` that copies the record without attempt-*/out into the workspace for archiving."""
    src, dst = record(name, runs_dir), archived(name)
    return (
        f"rm -rf {dst} && mkdir -p {dst} && if [ -d {src} ]; then tar -C {src} --anchored"
        f" --no-wildcards-match-slash --exclude='./attempt-*/out' -cf - . | tar -C {dst} -xf -; fi"
    )


def status_json(name: str, overall: str, value: float, threshold: float = 0.9) -> dict[str, Any]:
    """A run record's status.json (the fields the library reads), keyed by its workspace path."""
    return {
        f"{record(name)}/status.json": {
            "jobId": job(name),
            "project": name,
            "overallStatus": overall,
            "gate": {"metric": "accuracy", "passed": value >= threshold, "value": value, "threshold": threshold},
        }
    }


# ---------------------------------------------------------------- reading results


def shell(result: dict[str, Any]) -> list[str]:
    return [c["args"]["script"] for c in result["calls"] if c["step"] == "sh"]


def branch_shell(result: dict[str, Any], stage: str) -> list[str]:
    """The commands one parallel branch ran, in its own order."""
    return [c["args"]["script"] for c in result["calls"] if c["step"] == "sh" and c["stage"] == stage]


def gpu_locks(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The lock calls that take GPUs (not the per-host turnstile every request passes first)."""
    return [c for c in result["calls"] if c["step"] == "lock" and "label" in c["args"]]


def calls(result: dict[str, Any], step: str) -> list[dict[str, Any]]:
    return [c for c in result["calls"] if c["step"] == step]


def run_call(result: dict[str, Any], project: str) -> dict[str, Any]:
    (found,) = [c for c in calls(result, "sh") if c["args"]["script"].startswith(f"mlci run {project} ")]
    return found


def cleanup_command(name: str) -> str:
    """The backstop every branch that started `mlci run` runs right after it, on the same node and inside
    the same GPU lock, however `mlci run` ended."""
    return f"mlci cleanup {name} --job={job(name)}"


def release_commands(name: str, gpus: str, *, store: str = "local") -> list[str]:
    """The commands one successful project branch runs, in order."""
    return [
        f"git checkout --quiet --detach {HEAD}",
        f"mlci notify --event=started {name} {job(name)}",
        f"mlci run {name} --job-id={job(name)} --gpus={gpus}",
        cleanup_command(name),
        keep_command(name),
        f"mlci publish {name} {job(name)} --store={store}",
        f"mlci notify --event=succeeded {name} {job(name)}",
    ]


# ---------------------------------------------------------------- promotion and deployment


def env_plan(
    project: str = "digits",
    env: str = "prod",
    *,
    approval: bool = False,
    hosts: tuple[str, ...] = ("web-01",),
    itest: bool = True,
    **over: Any,
) -> dict[str, Any]:
    """`mlci plan --env ENV --projects PROJECT --json` as mlci prints it."""
    the_plan = {
        "commit": HEAD,
        "project": project,
        "env": env,
        "approval": approval,
        "submitter": "alice,bob" if approval else "admin",
        "approval_timeout_s": 3600,
        "source_store": "shelf",
        "store": "vault",
        "promote_secrets": ["VAULT_KEY"],
        "deploy": bool(hosts),
        "deploy_hosts": list(hosts),
        "itest": itest and bool(hosts),
        "deploy_timeout_s": 3960 if hosts else 0,
        "itest_timeout_s": 900 if itest and hosts else 0,
        "deploy_secrets": ["PROD_API_KEY"],
        "notify_secrets": ["SLACK_WEBHOOK_URL"],
    }
    the_plan.update(over)
    return the_plan


SERVING_NODES = [
    {"name": "gpu-01", "labels": ["mlci", "docker", "gpu"], "env": {"MLCI_HOST": "gpu-01"}},
    {"name": "web-01", "labels": ["mlci", "docker", "serve"], "env": {"MLCI_HOST": "web-01"}},
    {"name": "web-02", "labels": ["mlci", "docker", "serve"], "env": {"MLCI_HOST": "web-02"}},
]
USER_CAUSE = {
    "_class": "hudson.model.Cause$UserIdCause",
    "shortDescription": "Started by user carol",
    "userId": "carol",
}
WEBHOOK_CAUSE = {"_class": "org.jenkinsci.plugins.gwt.GenericCause", "shortDescription": "Deploy requested"}
CREDENTIALS = ["VAULT_KEY", "PROD_API_KEY", "SLACK_WEBHOOK_URL"]


def env_scenario(
    name: str, step: str, the_plan: dict[str, Any] | None, params: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """A build of mlci-promote or mlci-deploy (`step`) on the serving nodes, started by carol."""
    rules = [*extra.pop("sh", [])]
    if the_plan is not None:
        rules.append({"match": r"^mlci plan --env=", "stdout": the_plan})
    job_name = "mlci-promote" if step == "mlciPromote" else "mlci-deploy"
    return {
        "name": name,
        "step": step,
        "build": BUILD,
        "job": job_name,
        "params": params,
        "nodes": SERVING_NODES,
        "resources": {},
        "sh": rules,
        "softKillWaitS": SOFT_KILL_WAIT_S,
        "causes": [USER_CAUSE],
        "credentials": CREDENTIALS,
        **extra,
    }
