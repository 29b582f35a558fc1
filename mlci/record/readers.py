"""The one way every command (and the dashboard, history, Jenkins' helpers) lists run records.

A record that cannot be trusted — malformed, half-written, newer than this mlci, or lying about
its job id — is reported by path in one line and skipped; the other runs still list, and no
command ends in an internal error because of another run's record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from mlci.contract import STATUS_FILE
from mlci.errors import UsageError
from mlci.record.store import RunRecord, UnreadableRecord, check_names, runs_dir

Report = Callable[[str], None]


def _stderr(line: str) -> None:
    import click

    click.echo(f"mlci: skipping {line}", err=True)


def iter_records(root: Path, project: str | None = None, *, report: Report | None = _stderr) -> Iterator[RunRecord]:
    """Every readable record, newest first; each unreadable one is reported (unless `report` is None)."""
    base = runs_dir(root)
    if project:
        names = [project]
    else:
        names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.is_symlink()) if base.is_dir() else []
    found: list[RunRecord] = []
    for name in names:
        pdir = base / name
        if not pdir.is_dir() or pdir.is_symlink():
            continue
        for jdir in pdir.iterdir():
            if jdir.is_symlink() or not jdir.is_dir() or not (jdir / STATUS_FILE).exists():
                continue
            try:
                found.append(RunRecord.load(jdir))
            except UnreadableRecord as exc:
                if report is not None:
                    report(str(exc))
    found.sort(key=lambda r: r.state.created_at, reverse=True)
    return iter(found)


def find_record(root: Path, project: str, job_id: str | None = None) -> RunRecord:
    """A project's record by job id, or its latest readable one."""
    check_names(project, job_id)
    if job_id:
        directory = runs_dir(root, project) / job_id
        if not (directory / STATUS_FILE).exists():
            raise UsageError(
                f"no run '{job_id}' for project '{project}'", hint="list runs with `mlci status " + project + "`"
            )
        try:
            return RunRecord.load(directory)
        except UnreadableRecord as exc:
            raise UsageError(f"run '{job_id}' of {project} cannot be read: {exc.why}", hint=f"see {exc.path}") from None
    latest = next(iter_records(root, project), None)
    if latest is None:
        raise UsageError(f"project '{project}' has no runs yet", hint=f"start one with `mlci run {project}`")
    return latest
