"""Removing the stage containers of one project's job: the Jenkins library's backstop.

However `mlci run` ends in a Jenkins build (abort, time limit, a lost agent), the library runs
`mlci cleanup PROJECT --job ID` in a `finally` right after it, on the same node and inside its GPU lock. Normally there is nothing left:
mlci stops and removes its own containers when it gets SIGTERM. But Jenkins never SIGKILLs a step's
processes on Linux, and gives up waiting after a while, so an mlci that hangs would leave its
container — and the GPU it holds — running after the build released the GPU lock.

Both labels must match: a release build gives every project the same job id, and another project
of that build may still be running. A serving container (`mlci deploy`, label mlci.serve) carries the
job id of the run its model version came from, and is never removed here: it is meant to outlive
every run.
"""

from __future__ import annotations

from typing import Any

from mlci.contract import JOB_ID_RE, LABEL_JOB, LABEL_PROJECT, LABEL_SERVE, PROJECT_RE
from mlci.errors import MlciError, UsageError
from mlci.runner.container import remove_container


def job_filters(project: str, job_id: str) -> dict[str, list[str]]:
    """Docker's label filters for one project's job (several `label` filters must all match)."""
    if not PROJECT_RE.fullmatch(project):
        raise UsageError(f"'{project}' is not a project name", hint="lowercase letters, digits and dashes")
    if not JOB_ID_RE.fullmatch(job_id):
        raise UsageError(f"'{job_id}' is not a job id", hint="letters, digits, '.', '_' and '-', at most 128")
    return {"label": [f"{LABEL_PROJECT}={project}", f"{LABEL_JOB}={job_id}"]}


def remove_job_containers(client: Any, project: str, job_id: str) -> list[str]:
    """Force-removes every container (running or not) of `project`'s job `job_id`; returns their
    names. Raises MlciError when one is still there afterwards."""
    filters = job_filters(project, job_id)
    found = _stage_containers(client, filters)
    for info in found:
        remove_container(client.api, info["Id"])
    left = _stage_containers(client, filters)
    if left:
        names = ", ".join(_name(info) for info in left)
        raise MlciError(f"could not remove container(s) {names} of {project} job {job_id}", hint="see `docker ps -a`")
    return [_name(info) for info in found]


def _stage_containers(client: Any, filters: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The job's containers, less any serving one (Docker's filters cannot say "without a label")."""
    found = client.api.containers(all=True, filters=filters)
    return [info for info in found if not (info.get("Labels") or {}).get(LABEL_SERVE)]


def _name(info: dict[str, Any]) -> str:
    names = info.get("Names") or []
    return names[0].lstrip("/") if names else info["Id"][:12]
