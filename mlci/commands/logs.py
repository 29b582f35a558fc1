"""`mlci logs PROJECT [JOB] [--stage S] [--attempt N] [--follow]`: a run's build and stage logs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from mlci.commands._common import repo_root
from mlci.errors import UsageError
from mlci.record.readers import find_record
from mlci.record.store import RunRecord

CHUNK = 1 << 16


def log_files(record: RunRecord, stage: str | None, attempt: int | None) -> list[Path]:
    """The logs to show, in the order they were written."""
    attempts = record.state.attempts
    if attempt is not None:
        attempts = [a for a in attempts if a.n == attempt]
        if not attempts:
            raise UsageError(f"job {record.job_id} has no attempt {attempt}")
    files = [] if stage else [record.path(record.state.build.log)]
    for entry in attempts:
        for st in entry.stages:
            if stage is None or st.name == stage:
                files.append(record.path(st.log))
    if stage and len(files) == 0:
        names = sorted({st.name for a in record.state.attempts for st in a.stages})
        raise UsageError(
            f"job {record.job_id} has no stage '{stage}' log", hint=f"stages run: {', '.join(names) or 'none yet'}"
        )
    if stage and attempt is None:
        files = files[-1:]  # the latest attempt's
    return files


def _copy(path: Path, offset: int, out) -> int:
    if not path.is_file():
        return offset
    with path.open("rb") as handle:
        handle.seek(offset)
        while chunk := handle.read(CHUNK):
            out.write(chunk)
            offset += len(chunk)
    out.flush()
    return offset


@click.command("logs")
@click.argument("project")
@click.argument("job", required=False)
@click.option("--stage", help="Only this stage's log (latest attempt unless --attempt).")
@click.option("--attempt", type=int, help="Only this attempt.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run ends.")
@click.pass_context
def command(
    ctx: click.Context, project: str, job: str | None, stage: str | None, attempt: int | None, follow: bool
) -> None:
    """Print a run's logs (the latest run of PROJECT unless JOB is given)."""
    root = repo_root(ctx)
    record = find_record(root, project, job)
    out = sys.stdout.buffer
    offsets: dict[Path, int] = {}
    while True:
        finished = not follow or not record.status.active  # decided before the last copy: no tail is lost
        for path in log_files(record, stage, attempt):
            offsets[path] = _copy(path, offsets.get(path, 0), out)
        if finished:
            return
        time.sleep(0.5)
        record = RunRecord.load(record.dir)
