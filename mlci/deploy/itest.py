"""`mlci itest PROJECT --env ENV`: the project's integration test against its deployed service.

serve.itest.run runs with `sh -c` in the *deployed* version's image (the serving container's), as a
one-off container on the environment's network `mlci-{env}`, with MLCI_SERVE_URL
(`http://{env}-{project}:{port}`), MLCI_MODEL_VERSION, MLCI_ENV, MLCI_PROJECT and the environment's
secrets. Its output streams to the console and to `.mlci/deploy/<env>-<project>-<version>-itest.log`;
past its timeout it is stopped, and it is always removed. It carries the run's owner labels, so a
SIGKILL'd mlci's leftover is removed by the next run's cleanup like a stage's. The verdict comes
back typed (ItestResult), for callers that record it (a promotion gate).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci import contract
from mlci.deploy.container import LABEL_STACK, network_name
from mlci.deploy.logs import log_file, log_path
from mlci.deploy.status import Deployed, deployed
from mlci.errors import UsageError
from mlci.manifest.serve import Itest
from mlci.run.ownership import owner_labels
from mlci.runner.container import run_stage
from mlci.runner.stage_spec import StageSpec

LABEL_ITEST = "mlci.itest"


@dataclass(frozen=True)
class ItestResult:
    project: str
    env: str
    version: str
    passed: bool
    exit_code: int | None  # None: it never exited by itself (stopped at its timeout)
    seconds: float
    log: Path
    timed_out: bool = False


def serving_for_itest(api: Any, env: str, project: str) -> Deployed:
    """The deployment an itest runs against; nothing deployed is a usage error (exit 2)."""
    current = deployed(api, env, project)
    if current is None:
        raise UsageError(
            f"nothing of {project} is deployed in {env} on this Docker engine",
            hint=f"deploy it first: `mlci deploy {project} --env {env}`",
        )
    if current.port is None:
        raise UsageError(f"{current.name} records no serving port (label mlci.serve.port); deploy it again")
    return current


def run_itest(
    client: Any,
    root: Path,
    target: Deployed,
    itest: Itest,
    *,
    secrets: dict[str, str],
    timeout_s: int | None = None,
    echo: bool = True,
) -> ItestResult:
    """Run `itest` against `target`; the verdict (a failing test is a result, not an exception)."""
    env, project, version = target.env, target.project, target.version
    timeout = timeout_s or itest.timeout
    variables = {
        "MLCI_SERVE_URL": target.url or "",
        "MLCI_MODEL_VERSION": version,
        "MLCI_ENV": env,
        "MLCI_PROJECT": project,
        **secrets,
    }
    if os.getuid() != 0:
        variables["HOME"] = "/tmp"  # the caller's UID has no home in the image
    spec = StageSpec(
        name="itest",
        image=target.image_id,
        command=["sh", "-c", itest.run],
        env=variables,
        labels={
            contract.LABEL_PROJECT: project,
            contract.LABEL_JOB: target.job_id,
            contract.LABEL_ENV: env,
            contract.LABEL_VERSION: version,
            LABEL_ITEST: "1",
            LABEL_STACK: network_name(env),
            **owner_labels(root),
        },
        binds={},
        user=f"{os.getuid()}:{os.getgid()}",
        timeout_s=timeout,
        network=network_name(env),
    )
    path = log_path(root, env, project, version, "-itest")
    started = time.monotonic()
    with log_file(path, echo=echo, secrets=tuple(secrets.values())) as sink:
        sink.write(f"mlci: itest of {project} {version} in {env} against {target.url}\n")
        result = run_stage(client, spec, sink)
        timed_out = result.status == "Timed Out"
        if timed_out:
            sink.write(f"mlci: the itest ran past its timeout of {timeout}s; its container was stopped and removed\n")
    return ItestResult(
        project=project,
        env=env,
        version=version,
        passed=result.status == "Succeeded",
        exit_code=None if timed_out else result.exit_code,
        seconds=time.monotonic() - started,
        log=path,
        timed_out=timed_out,
    )
