"""Run records: `.mlci/runs/<project>/<job-id>/status.json` and the logs beside it.

`MLCI_RUNS_DIR` (an absolute path) moves the runs directory out of the checkout: Jenkins sets it on
every node to a host-level directory, so records outlive the job workspace and `mlci status` on the
host sees Jenkins' runs.

status.json keeps the shape of a known job-status design (jobId, overallStatus, timestamps,
build{status, log, imageUri}, run{status, log, artifactUrl}) and adds what mlci knows: project,
commit, image id and cache hit, every attempt with its stages, metrics, the gate verdict, GPUs,
and who owns the run (pid + process start time), so a reader can tell a live run from a dead one.
Every write is atomic (temp file + fsync + rename): a reader never sees half a record.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlci.atomic import write_text_atomic

RUNS_DIR = Path(".mlci") / "runs"
RUNS_DIR_ENV = "MLCI_RUNS_DIR"
# An absolute path of plain segments: no `..` (no walking out), no control characters or newline.
_RUNS_DIR_RE = re.compile(r"/[A-Za-z0-9._/@+~-]{0,4095}")
# A job id becomes a directory name, a container label and part of store paths: fullmatch, never `$`
# (which would let a trailing newline through).
JOB_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_PROJECT_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
STATUS_FILE = "status.json"

# overallStatus values
QUEUED, BUILDING, RUNNING = "Queued", "Building", "Running"
SUCCEEDED, FAILED, BUILD_FAILED = "Succeeded", "Failed", "Build Failed"
CANCELLED, INTERRUPTED = "Cancelled", "Interrupted"
ACTIVE = (QUEUED, BUILDING, RUNNING)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def write_json_atomic(path: Path, data: Any, fsync: bool = True) -> None:
    """Write JSON so that readers see either the old or the new file, never a partial one."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n", fsync=fsync)


def process_start_ticks(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), to detect pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # field 22, counted after the parenthesised command name (which may contain spaces)
    return int(stat.rsplit(")", 1)[1].split()[19])


def boot_id() -> str | None:
    """This kernel boot's id: a process recorded under another boot is dead, whatever its pid."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def current_owner() -> dict[str, Any]:
    """Who runs this process: host, pid, the pid's start time and the boot, to tell it apart from
    a later process that reuses the pid."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "startTicks": process_start_ticks(pid), "boot": boot_id()}


def owner_alive(owner: dict[str, Any] | None) -> bool:
    """False only when the owner is provably dead: same host, and another boot or no process with
    that pid and start time. Another host's (or container's) run cannot be checked from here."""
    if not owner:
        return False
    if owner.get("host") != socket.gethostname():
        return True  # another machine's run: we cannot tell, so do not call it dead
    if owner.get("boot") and boot_id() and owner["boot"] != boot_id():
        return False
    try:
        pid = int(owner.get("pid", -1))
    except (TypeError, ValueError):
        return False
    return process_start_ticks(pid) == owner.get("startTicks")


def claim_job_dir(root: Path, project: str, job_id: str, *, next_free: bool) -> tuple[str, Path]:
    """Create the job's directory atomically (mkdir is the lock): with `next_free`, the first of
    job_id, job_id-2, job_id-3, ... that nobody else has claimed; otherwise job_id or an error."""
    from mlci.errors import UsageError

    base = runs_dir(root, project)
    base.mkdir(parents=True, exist_ok=True)
    candidate, n = job_id, 1
    while True:
        try:
            (base / candidate).mkdir()
            return candidate, base / candidate
        except FileExistsError:
            if not next_free:
                raise UsageError(
                    f"job '{job_id}' already exists for {project}", hint="pick another --job-id or omit it"
                ) from None
            n += 1
            candidate = f"{job_id}-{n}"


class RunRecord:
    """One run's directory and its status.json, updated in place and saved atomically."""

    def __init__(self, directory: Path, data: dict[str, Any]):
        self.dir = directory
        self.data = data

    # ------------------------------------------------------------ creation and loading
    @classmethod
    def create(cls, root: Path, project: str, job_id: str, *, claimed: bool = False, **fields: Any) -> RunRecord:
        """A new record; `claimed` when claim_job_dir already made its directory."""
        directory = runs_dir(root, project) / job_id
        if not claimed:
            directory.parent.mkdir(parents=True, exist_ok=True)
            directory.mkdir()
        stamp = now()
        data: dict[str, Any] = {
            "schemaVersion": 1,
            "jobId": job_id,
            "project": project,
            "overallStatus": QUEUED,
            "createdAt": stamp,
            "updatedAt": stamp,
            "startedAt": stamp,
            "finishedAt": None,
            "owner": current_owner(),
            "build": {"status": "Pending", "log": "build.log", "imageUri": None, "imageId": None, "cacheHit": None},
            "run": {"status": "Pending", "log": None, "artifactUrl": None},
            "gpus": None,
            "attempts": [],
            "metrics": {},
            "gate": None,
            "publish": None,
            "error": None,
            **fields,
        }
        record = cls(directory, data)
        record.save()
        return record

    @classmethod
    def load(cls, directory: Path) -> RunRecord:
        return cls(directory, json.loads((directory / STATUS_FILE).read_text(encoding="utf-8")))

    def save(self) -> None:
        from mlci.secrets import redact_data

        self.data["updatedAt"] = now()
        # every string (keys included) passes the redactor: a stage's metrics, errors and paths are
        # other people's text, and may hold a secret value the run was given
        # the rename keeps every save atomic for readers; only a finished record needs to be durable
        # on disk at once (an fsync per stage transition costs more than the engine's own work)
        write_json_atomic(
            self.dir / STATUS_FILE, redact_data(self.data), fsync=self.data["overallStatus"] not in ACTIVE
        )

    # ------------------------------------------------------------ derived views
    @property
    def job_id(self) -> str:
        return self.data["jobId"]

    @property
    def project(self) -> str:
        return self.data["project"]

    @property
    def status(self) -> str:
        """overallStatus, with a run whose owning process died reported as Interrupted."""
        status = self.data["overallStatus"]
        if status in ACTIVE and not owner_alive(self.data.get("owner")):
            return INTERRUPTED
        return status

    def duration_s(self) -> float | None:
        start = parse_time(self.data.get("startedAt"))
        end = parse_time(self.data.get("finishedAt")) or (datetime.now(UTC) if self.status in ACTIVE else None)
        end = end or parse_time(self.data.get("updatedAt"))
        return (end - start).total_seconds() if start and end else None

    def path(self, name: str) -> Path:
        return self.dir / name

    def close(self, status: str, error: str | None) -> None:
        """End the run as `status`, and every part still open (build, attempts, stages) with the
        state that is true for it: a cancelled run's running stage was cancelled, not failed; a
        build that never started was skipped. Every exit path goes through here."""
        stamp = now()
        part = {CANCELLED: CANCELLED, INTERRUPTED: INTERRUPTED}.get(status, "Failed")
        build = self.data["build"]
        if build["status"] == "Running":
            build.update(status=part, finishedAt=build.get("finishedAt") or stamp)
        elif build["status"] == "Pending":
            build["status"] = "Skipped"
        for attempt in self.data["attempts"]:
            for stage in attempt["stages"]:
                if stage["status"] == "Running":
                    stage.update(status=part, finishedAt=stage.get("finishedAt") or stamp)
            if attempt["status"] == "Running":
                attempt.update(status=part, finishedAt=attempt.get("finishedAt") or stamp)
                if error and not attempt.get("error"):
                    attempt["error"] = error
        self.data["overallStatus"] = status
        self.data["run"]["status"] = {SUCCEEDED: "Succeeded", BUILD_FAILED: "Skipped"}.get(status, status)
        self.data["error"] = error
        self.data["finishedAt"] = self.data.get("finishedAt") or stamp
        self.save()

    def mark_interrupted(self) -> None:
        """Persist what `status` derives, so later readers need not re-derive it."""
        if self.data["overallStatus"] in ACTIVE:
            self.data["finishedAt"] = self.data.get("finishedAt") or self.data["updatedAt"]
            self.close(INTERRUPTED, "the mlci process running this job died before it finished")


def runs_dir(root: Path, project: str | None = None) -> Path:
    """Where run records live: $MLCI_RUNS_DIR when set, else `<root>/.mlci/runs`."""
    base = _runs_dir_from_env() or root / RUNS_DIR
    return base / project if project else base


def _runs_dir_from_env() -> Path | None:
    value = os.environ.get(RUNS_DIR_ENV)
    if not value:
        return None
    if not _RUNS_DIR_RE.fullmatch(value) or ".." in value.split("/") or not value.strip("/"):
        from mlci.errors import UsageError

        raise UsageError(
            f"{RUNS_DIR_ENV}={value[:200]!r} is not usable as the runs directory",
            hint="set it to an absolute path below / without '..' (e.g. /srv/mlci/runs), or unset it",
        )
    return Path(value)


def iter_records(root: Path, project: str | None = None) -> Iterator[RunRecord]:
    """Every readable record (newest first); unreadable directories are skipped."""
    base = runs_dir(root)
    projects = [project] if project else sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    found = []
    for name in projects:
        pdir = base / name
        if not pdir.is_dir():
            continue
        for jdir in pdir.iterdir():
            if (jdir / STATUS_FILE).is_file():
                try:
                    found.append(RunRecord.load(jdir))
                except (OSError, ValueError):
                    continue
    found.sort(key=lambda r: r.data.get("createdAt") or "", reverse=True)
    return iter(found)


def check_names(project: str, job_id: str | None = None) -> None:
    """Refuse a project name or job id that could not have been created by mlci (and could
    otherwise walk out of the runs directory, e.g. `../..`)."""
    from mlci.errors import UsageError

    if not _PROJECT_RE.fullmatch(project):
        raise UsageError(f"{project!r} is not a project name", hint="use lowercase letters, digits and dashes")
    if job_id is not None and not JOB_ID_RE.fullmatch(job_id):
        raise UsageError(
            f"job id {job_id!r} is not valid", hint="use letters, digits, '.', '_' and '-' (max 128, no newline)"
        )


def find_record(root: Path, project: str, job_id: str | None = None) -> RunRecord:
    """A project's record by job id, or its latest one."""
    from mlci.errors import UsageError

    check_names(project, job_id)
    if job_id:
        directory = runs_dir(root, project) / job_id
        if not (directory / STATUS_FILE).is_file():
            raise UsageError(
                f"no run '{job_id}' for project '{project}'", hint="list runs with `mlci status " + project + "`"
            )
        return RunRecord.load(directory)
    latest = next(iter_records(root, project), None)
    if latest is None:
        raise UsageError(f"project '{project}' has no runs yet", hint=f"start one with `mlci run {project}`")
    return latest
