"""What Jenkins' mlci-promote and mlci-deploy jobs need to know about one project in one environment
(`mlci plan --env ENV --projects NAME --json`): who approves, which hosts serve it, whether it runs an
integration test, and which secrets Jenkins binds around each command.

It is read from Git at one commit, like the release plan, because both halves change: `environments:`
lives in mlci.yaml, `serve:` in the project's project.yaml (which changes far more often than the
rendered jobs do). The library decides nothing that can be decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlci.errors import UsageError
from mlci.manifest.environments import Environment, unknown_environment_hint
from mlci.manifest.schema import Manifest
from mlci.release.affected import BUILD_ALLOWANCE_S, Snapshot, resolve, snapshot

# Jenkins' limits around `mlci deploy` and `mlci itest`, so a hung one ends the build: the image build
# (or pull) allowance plus the health timeout, or the itest's own timeout, plus slack for mlci to
# stop containers and report before Jenkins interrupts it.
DEPLOY_SLACK_S = 300


@dataclass(frozen=True)
class EnvPlan:
    commit: str
    project: str
    env: str
    approval: bool  # mlci-promote waits for a person before `mlci promote`
    submitter: str  # `input(submitter:)`: the environment's approvers, else the admin
    approval_timeout_s: int
    source_store: str  # the project's publish store, whose version index holds VERSION
    store: str  # the environment's store
    promote_secrets: tuple[str, ...]  # both stores' credentials, bound around `mlci promote`
    deploy: bool  # the project has `serve:` and the environment names hosts
    deploy_hosts: tuple[str, ...]  # Jenkins agents (host names) to deploy on, one after another
    itest: bool  # serve.itest is set: `mlci itest` after each deployment
    deploy_timeout_s: int  # Jenkins' limit for one `mlci deploy` (0: nothing to deploy)
    itest_timeout_s: int  # Jenkins' limit for one `mlci itest` (0: no itest)
    deploy_secrets: tuple[str, ...]  # the environment's secrets and its store's, bound around deploy/itest
    notify_secrets: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "commit": self.commit,
            "project": self.project,
            "env": self.env,
            "approval": self.approval,
            "submitter": self.submitter,
            "approval_timeout_s": self.approval_timeout_s,
            "source_store": self.source_store,
            "store": self.store,
            "promote_secrets": list(self.promote_secrets),
            "deploy": self.deploy,
            "deploy_hosts": list(self.deploy_hosts),
            "itest": self.itest,
            "deploy_timeout_s": self.deploy_timeout_s,
            "itest_timeout_s": self.itest_timeout_s,
            "deploy_secrets": list(self.deploy_secrets),
            "notify_secrets": list(self.notify_secrets),
        }


def store_secrets(manifest: Manifest, name: str) -> tuple[str, ...]:
    store = manifest.artifacts.stores[name]
    return tuple(sorted(n for n in (store.access_key_id, store.secret_access_key, store.token) if n))


def serving_hosts(manifest: Manifest, env_name: str, env: Environment) -> tuple[str, ...]:
    """The hosts `env.hosts` names, directly or by label, in mlci.yaml's order; each must be a Jenkins
    agent, since the deployment runs on it as a build."""
    wanted = set(env.hosts)
    hosts = [h for h in manifest.hosts if h.name in wanted or wanted & set(h.labels)]
    not_agents = [h.name for h in hosts if "agent" not in h.roles]
    if not_agents:
        raise UsageError(
            f"environment '{env_name}' is served by {', '.join(not_agents)}, which Jenkins cannot build on",
            hint="give those hosts the agent role in mlci.yaml (roles: [agent]), or name other hosts in "
            f"environments.{env_name}.hosts",
        )
    return tuple(h.name for h in hosts)


def _environment(manifest: Manifest, name: str, commit: str) -> Environment:
    env = manifest.environments.get(name)
    if env is None:
        hint = unknown_environment_hint(manifest.environments, name)
        raise UsageError(f"--env: no environment {name[:64]!r} in mlci.yaml at {commit[:12]}", hint=hint)
    return env


def env_plan_from(snap: Snapshot, commit: str, project: str, env_name: str) -> EnvPlan:
    manifest = snap.manifest
    env = _environment(manifest, env_name, commit)
    spec = snap.projects.get(project)
    if spec is None:
        known = ", ".join(sorted(snap.projects)) or "none"
        raise UsageError(f"--projects: no project {project!r} at {commit[:12]}", hint=f"known projects: {known}")
    source = spec.publish.store or manifest.artifacts.default
    if source not in manifest.artifacts.stores:
        raise UsageError(
            f"{project}: publish.store '{source}' is not defined in mlci.yaml",
            hint=f"use one of: {', '.join(sorted(manifest.artifacts.stores))}",
        )
    serve = spec.serve
    hosts = serving_hosts(manifest, env_name, env) if serve is not None else ()
    itest = serve.itest if serve is not None and hosts else None
    slack = manifest.notifications.slack
    return EnvPlan(
        commit=commit,
        project=project,
        env=env_name,
        approval=env.approval,
        submitter=",".join(env.approvers) or manifest.jenkins.admin_user,
        approval_timeout_s=env.approval_timeout,
        source_store=source,
        store=env.store,
        promote_secrets=tuple(sorted({*store_secrets(manifest, source), *store_secrets(manifest, env.store)})),
        deploy=bool(hosts),
        deploy_hosts=hosts,
        itest=itest is not None,
        deploy_timeout_s=BUILD_ALLOWANCE_S + serve.health_timeout + DEPLOY_SLACK_S if serve and hosts else 0,
        itest_timeout_s=itest.timeout + DEPLOY_SLACK_S if itest else 0,
        deploy_secrets=tuple(sorted({*env.secrets, *store_secrets(manifest, env.store)})),
        notify_secrets=(slack.webhook,) if slack else (),
    )


def env_plan(root: Path, head: str, project: str, env_name: str) -> EnvPlan:
    """The plan of `project` in environment `env_name`, as mlci.yaml and project.yaml are at `head`."""
    commit = resolve(root, head, "head")
    return env_plan_from(snapshot(root, commit), commit, project, env_name)
