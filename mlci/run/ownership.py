"""Who owns a stage container, default job ids, and the cleanup of dead runs' leftovers.

Cleanup trusts the owner labels, not the project name, so runs of the same project from two
checkouts on one host (two Jenkins workspaces, a developer's clone) never remove each other's
containers."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlci import contract
from mlci.git import head_commit, is_dirty
from mlci.record.model import Owner, RunStatus
from mlci.record.owner import current_owner, owner_alive
from mlci.record.readers import iter_records
from mlci.record.store import RunRecord, UnreadableRecord, runs_dir
from mlci.runner.container import remove_container


def default_job_base(root: Path) -> str:
    """Short commit hash, `-dirty` when the tree has changes (claim_job_dir adds `-N` when taken)."""
    commit = head_commit(root)
    base = commit[:8] if commit else time.strftime("run-%Y%m%d-%H%M%S", time.gmtime())
    if commit and is_dirty(root):
        base += "-dirty"
    return base


def owner_labels(root: Path) -> dict[str, str]:
    """The mlci process (host, pid, start time, boot) and the checkout, as container labels."""
    owner = current_owner()
    return {
        contract.LABEL_OWNER_HOST: owner.host,
        contract.LABEL_OWNER_PID: str(owner.pid),
        contract.LABEL_OWNER_START: str(owner.start_ticks),
        contract.LABEL_OWNER_BOOT: owner.boot or "",
        contract.LABEL_CHECKOUT: str(root),
    }


def owner_from_labels(labels: dict[str, str]) -> Owner | None:
    pid, start = labels.get(contract.LABEL_OWNER_PID, ""), labels.get(contract.LABEL_OWNER_START, "")
    if not pid.isdigit():
        return None
    return Owner(
        host=labels.get(contract.LABEL_OWNER_HOST) or "",
        pid=int(pid),
        start_ticks=int(start) if start.isdigit() else None,
        boot=labels.get(contract.LABEL_OWNER_BOOT) or None,
    )


def _finished_here(root: Path, project: str, job: str) -> bool:
    """A container made by an mlci without owner labels: only a finished record in this checkout vouches for it."""
    if not contract.JOB_ID_RE.fullmatch(job):
        return False
    try:
        record = RunRecord.load(runs_dir(root, project) / job)
    except UnreadableRecord:
        return False
    return not record.status.active


def _abandoned(labels: dict[str, str], root: Path, project: str, job: str) -> bool:
    """Made by an mlci that is provably dead: its owner labels name a process gone from this boot,
    or (no owner labels, an older mlci) this checkout holds the job's finished record. Never a
    serving container (`mlci deploy`): it carries its version's job id and is meant to outlive it."""
    if labels.get(contract.LABEL_SERVE):
        return False
    owner = owner_from_labels(labels)
    return not owner_alive(owner) if owner is not None else _finished_here(root, project, job)


def clean_leftovers(client: Any, root: Path, project: str, say: Callable[[str], None]) -> None:
    """Remove containers of `project` whose owning mlci process is provably dead (SIGKILL, OOM,
    reboot), and mark their records Interrupted. A live owner, or one that cannot be checked from
    here, is never touched."""
    removed: dict[str, int] = {}
    for info in client.api.containers(all=True, filters={"label": [f"{contract.LABEL_PROJECT}={project}"]}):
        labels = info.get("Labels") or {}
        job = labels.get(contract.LABEL_JOB) or "?"
        if not _abandoned(labels, root, project, job):
            continue
        remove_container(client.api, info["Id"])
        removed[job] = removed.get(job, 0) + 1
    for job, count in sorted(removed.items()):
        say(f"removed {count} leftover container(s) of interrupted job {job}")
    _remove_dead_networks(client, root, project, say)
    for record in iter_records(root, project):
        if record.active and record.status == RunStatus.INTERRUPTED:
            record.mark_interrupted()


def _remove_dead_networks(client: Any, root: Path, project: str, say: Callable[[str], None]) -> None:
    """Sidecar networks (mlci/runner/sidecars.py) left by a dead owner: removed after their
    containers, by the same rule. One still in use by a container the engine keeps is left alone."""
    for info in client.api.networks(filters={"label": [f"{contract.LABEL_PROJECT}={project}"]}):
        labels = info.get("Labels") or {}
        job = labels.get(contract.LABEL_JOB) or "?"
        if not _abandoned(labels, root, project, job):
            continue
        try:
            client.api.remove_network(info["Id"])
        except Exception:  # still attached somewhere: the next run tries again
            continue
        say(f"removed the leftover service network {info.get('Name', '?')} of interrupted job {job}")
