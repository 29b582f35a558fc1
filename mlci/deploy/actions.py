"""The three entry points the commands call: deploy a version, show what serves, run the itest.

Everything a user typed (project, environment, version, who) and everything the manifest and stores
say is checked here *before* the engine is contacted: bad input is exit 2 with nothing touched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci import secrets
from mlci.deploy.container import ServeSpec
from mlci.deploy.itest import ItestResult, run_itest, serving_for_itest
from mlci.deploy.status import Deployed, deployed
from mlci.deploy.swap import DeployResult, deploy, lock_path
from mlci.deploy.target import check_version, deployed_entry, ensure_image, resolve_target
from mlci.errors import UsageError
from mlci.manifest import Manifest, load_project
from mlci.manifest.serve import Itest, Serve
from mlci.publish.promotion import check_project, environment, history, record_itest, who
from mlci.publish.promotion_log import ITEST_JOB_RE
from mlci.publish.version_serve import version_serve
from mlci.record.parts import VERSION_PATTERN
from mlci.runner.engine import connect, has_nvidia_runtime
from mlci.runner.gpus import (
    GpuPlan,
    cdi_requested,
    control_device_nodes,
    load_inventory,
    parse_gpus,
    plan_gpus,
)
from mlci.runner.logsink import tail

Say = Callable[[str], None]


@dataclass(frozen=True)
class Request:
    """A checked `mlci deploy` / `mlci itest` request."""

    project: str
    env: str
    secrets: dict[str, str]


def check_request(root: Path, manifest: Manifest, project: str, env_name: str) -> Request:
    """Names and the environment's secrets — no engine, no store. The serve: settings are the version's
    own (project.yaml at its commit, mlci.publish.version_serve), read once the version is known."""
    check_project(project)
    load_project(root, project)  # a project of this checkout (a typo is named here, with a suggestion)
    env = environment(manifest, env_name)
    values = {name: secrets.resolve(name, purpose=f"environment {env_name}") for name in env.secrets}
    return Request(project, env_name, values)


def gpu_plan(client: Any, serve: Serve) -> GpuPlan:
    request = parse_gpus(serve.gpus)
    if request.mode == "none":
        return GpuPlan(device_request=None, devices="none")
    return plan_gpus(
        request,
        has_nvidia_runtime(client),
        load_inventory(),
        cdi=cdi_requested(),
        control_nodes=control_device_nodes(),
    )


def deploy_project(
    root: Path, manifest: Manifest, project: str, env_name: str, *, version: str | None, by: str | None, say: Say
) -> DeployResult:
    """Serve `version` (default: the one current in `env_name`) as `{env}-{project}`, by a healthy swap."""
    if version is not None:
        check_version(version)
    person = who(by)
    request = check_request(root, manifest, project, env_name)
    target = resolve_target(root, manifest, project, env_name, version, say)
    serve = version_serve(root, target.entry, say)
    where = "the environment's promoted copy" if target.promoted else "the published outputs"
    say(f"deploying {project} {target.version} (job {target.job_id}) to {env_name} from {where}: {target.model_dir}")
    say(f"serve: settings from {serve.source}")
    client = connect()
    spec = ServeSpec(
        target=target,
        serve=serve.serve,
        image_id=ensure_image(client, target, say),
        gpu=gpu_plan(client, serve.serve),
        secrets=request.secrets,
        deployed_by=person,
    )
    return deploy(client.api, root, spec, lock_path(manifest.runner.cache_dir, spec.names), say)


def deploy_status(root: Path, manifest: Manifest, project: str, env_name: str) -> Deployed | None:
    check_project(project)
    environment(manifest, env_name)
    return deployed(connect().api, env_name, project)


def itest_project(
    root: Path,
    manifest: Manifest,
    project: str,
    env_name: str,
    *,
    timeout_s: int | None = None,
    echo: bool = True,
    say: Say = lambda _message: None,
) -> ItestResult:
    """Run the deployed version's serve.itest (project.yaml at its commit) against what serves in
    `env_name`; the typed verdict."""
    request = check_request(root, manifest, project, env_name)
    client = connect()
    target = serving_for_itest(client.api, env_name, project)
    if not re.fullmatch(VERSION_PATTERN, target.version):
        raise UsageError(f"{target.name} carries no model version label; deploy it again with mlci deploy")
    entry = deployed_entry(root, manifest, project, env_name, target.version, target.job_id)
    serve = version_serve(root, entry, say)
    itest: Itest | None = serve.serve.itest
    if itest is None:
        raise UsageError(
            f"{project} {target.version} has no serve.itest in {serve.source}",
            hint="add serve: {itest: {run: python src/itest.py}} to project.yaml and publish it as a new version"
            " (see README: Deployment)",
        )
    return run_itest(client, root, target, itest, secrets=request.secrets, timeout_s=timeout_s, echo=echo)


def record_verdict(root: Path, manifest: Manifest, result: ItestResult) -> bool:
    """Record `result` in the environment's itest log, which an environment `after` this one reads;
    False (nothing recorded) when the tested version was deployed there without being promoted."""
    promoted = history(root, manifest, result.project, result.env)
    if not any(p.version == result.version for p in promoted):
        return False
    build = os.environ.get("BUILD_URL")  # Jenkins: the build that ran the test
    record_itest(
        root,
        manifest,
        result.project,
        result.env,
        result.version,
        passed=result.passed,
        by=None,
        job=build if build and re.fullmatch(ITEST_JOB_RE, build) else None,
        detail=_verdict_detail(result),
    )
    return True


def _verdict_detail(result: ItestResult) -> str:
    """How it ended and the last lines it printed (redacted and bounded by record_itest)."""
    how = "timed out" if result.timed_out else f"exit {result.exit_code}"
    return f"{how} after {result.seconds:.1f}s\n{tail(result.log, 8)}"
