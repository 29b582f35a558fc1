"""A run's directory and its status.json: created, saved atomically at every transition, loaded.

`.mlci/runs/<project>/<job-id>/`, or `$MLCI_RUNS_DIR/<project>/<job-id>/` when that variable holds
an absolute path (Jenkins sets it on every node, so records outlive the job workspace). Every save
goes through one place: the typed model dumped by alias, every string (keys too) through the
secret redactor, written to a temp file and renamed, so a reader never sees half a record.
"""

from __future__ import annotations

import errno
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from mlci.atomic import write_text_atomic
from mlci.boundary import read_small_file
from mlci.contract import JOB_ID_RE, PROJECT_RE, RUNS_DIR, RUNS_DIR_ENV, STATUS_FILE, runs_dir_usable
from mlci.errors import MlciError, UsageError
from mlci.record.model import (
    OLDEST_SCHEMA_VERSION,
    SCHEMA_VERSION,
    Experiment,
    GpuUse,
    Record,
    RunStatus,
    now,
    parse_time,
)
from mlci.record.owner import current_owner, owner_alive
from mlci.secrets import redact_data


class RecordWriteError(MlciError):
    """status.json could not be written (a full disk, a read-only mount): the old record stays."""


class UnreadableRecord(MlciError):
    """A status.json that is not a record this mlci can trust: readers report it and go on."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


RECORD_MAX_BYTES = 16 << 20  # a record with thousands of attempts is still far below this


def read_state(directory: Path) -> Record:
    """status.json of `directory` as a typed record. A link, a huge or truncated file, a JSON list,
    a field of the wrong type, a newer schema, or a jobId/project that disagrees with the directory
    it sits in each raise UnreadableRecord: a record is trusted only where it lies."""
    path = directory / STATUS_FILE
    raw = read_small_file(path, max_bytes=RECORD_MAX_BYTES)
    if isinstance(raw, str):
        raise UnreadableRecord(path, f"status.json is {raw}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UnreadableRecord(path, f"not valid JSON ({str(exc)[:120]}) — a half-written or damaged record") from None
    if not isinstance(data, dict):
        raise UnreadableRecord(path, f"a JSON {type(data).__name__}, not a record object")
    version = data.get("schemaVersion", OLDEST_SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < OLDEST_SCHEMA_VERSION:
        raise UnreadableRecord(path, f"schemaVersion {str(version)[:40]!r} is not a version mlci wrote")
    if version > SCHEMA_VERSION:
        raise UnreadableRecord(
            path, f"written by a newer mlci (schema {version}; this one reads up to {SCHEMA_VERSION})"
        )
    try:
        state = Record.model_validate({**data, "schemaVersion": SCHEMA_VERSION})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise UnreadableRecord(path, f"{where}: {first['msg']}"[:300]) from None
    if state.job_id != directory.name or state.project != directory.parent.name:
        raise UnreadableRecord(
            path,
            f"records job {state.job_id[:130]!r} of {state.project[:70]!r}, but lies in {directory.parent.name}/{directory.name}",
        )
    return state


class RunRecord:
    """One run's directory and its typed record (`state`)."""

    def __init__(self, directory: Path, state: Record):
        self.dir = directory
        self.state = state

    @classmethod
    def create(
        cls,
        root: Path,
        project: str,
        job_id: str,
        *,
        claimed: bool = False,
        commit: str | None = None,
        dirty: bool | None = None,
        gpus: GpuUse | None = None,
        config_hash: str | None = None,
        experiment: Experiment | None = None,
        rerun_of: str | None = None,
        max_attempts: int | None = None,
    ) -> RunRecord:
        """A new record; `claimed` when claim_job_dir already made its directory."""
        directory = runs_dir(root, project) / job_id
        if not claimed:
            directory.parent.mkdir(parents=True, exist_ok=True)
            directory.mkdir()
        stamp = now()
        state = Record(
            job_id=job_id,
            project=project,
            created_at=stamp,
            updated_at=stamp,
            started_at=stamp,
            owner=current_owner(),
            commit=commit,
            dirty=dirty,
            gpus=gpus,
            config_hash=config_hash,
            experiment=experiment,
            rerun_of=rerun_of,
            max_attempts=max_attempts,
        )
        record = cls(directory, state)
        record.save()
        return record

    @classmethod
    def load(cls, directory: Path) -> RunRecord:
        """The record in `directory`, checked; raises UnreadableRecord with the reason."""
        return cls(directory, read_state(directory))

    def save(self) -> None:
        self.state.updated_at = now()
        data = self.state.model_dump(mode="json", by_alias=True)
        path = self.dir / STATUS_FILE
        try:
            # the rename keeps every save atomic for readers; only a finished record needs to be
            # durable at once (an fsync per stage transition costs more than the engine's own work)
            write_text_atomic(path, json.dumps(redact_data(data), indent=2) + "\n", fsync=not self.active)
        except OSError as exc:
            raise RecordWriteError(
                f"cannot write the run record {path}: {os.strerror(exc.errno or errno.EIO)}",
                hint="free space on that filesystem (df -h) and run again; the record keeps its last saved state",
            ) from None

    # ------------------------------------------------------------ views
    @property
    def job_id(self) -> str:
        return self.state.job_id

    @property
    def project(self) -> str:
        return self.state.project

    @property
    def active(self) -> bool:
        return self.state.overall_status.active

    @property
    def status(self) -> RunStatus:
        """overallStatus, with a run whose owning process died reported as Interrupted."""
        if self.active and not owner_alive(self.state.owner):
            return RunStatus.INTERRUPTED
        return self.state.overall_status

    def duration_s(self) -> float | None:
        state = self.state
        start = parse_time(state.started_at)
        end = parse_time(state.finished_at) or (datetime.now(UTC) if self.status.active else None)
        end = end or parse_time(state.updated_at)
        return (end - start).total_seconds() if start and end else None

    def path(self, name: str) -> Path:
        return self.dir / name

    # ------------------------------------------------------------ transitions that end the run
    def close(self, status: RunStatus, error: str | None) -> None:
        self.state.close(status, error)
        self.save()

    def mark_interrupted(self) -> None:
        """Persist what `status` derives, so later readers need not re-derive it."""
        if self.active:
            self.state.finished_at = self.state.finished_at or self.state.updated_at
            self.close(RunStatus.INTERRUPTED, "the mlci process running this job died before it finished")


def runs_dir(root: Path, project: str | None = None) -> Path:
    """Where run records live: $MLCI_RUNS_DIR when set, else `<root>/.mlci/runs`."""
    base = _runs_dir_from_env() or root / RUNS_DIR
    return base / project if project else base


def _runs_dir_from_env() -> Path | None:
    value = os.environ.get(RUNS_DIR_ENV)
    if not value:
        return None
    if not runs_dir_usable(value):
        raise UsageError(
            f"{RUNS_DIR_ENV}={value[:200]!r} is not usable as the runs directory",
            hint="set it to an absolute path below / without '..' (e.g. /srv/mlci/runs), or unset it",
        )
    return Path(value)


def check_names(project: str, job_id: str | None = None) -> None:
    """Refuse a project name or job id that could not have been created by mlci (and could
    otherwise walk out of the runs directory, e.g. `../..`)."""
    if not PROJECT_RE.fullmatch(project):
        raise UsageError(f"{project!r} is not a project name", hint="use lowercase letters, digits and dashes")
    if job_id is not None and not JOB_ID_RE.fullmatch(job_id):
        raise UsageError(
            f"job id {job_id!r} is not valid", hint="use letters, digits, '.', '_' and '-' (max 128, no newline)"
        )


def claim_job_dir(root: Path, project: str, job_id: str, *, next_free: bool) -> tuple[str, Path]:
    """Create the job's directory atomically (mkdir is the lock): with `next_free`, the first of
    job_id, job_id-2, job_id-3, ... that nobody else has claimed; otherwise job_id or an error."""
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
