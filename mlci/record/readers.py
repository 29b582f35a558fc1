"""The one way every command (and the dashboard, history, Jenkins' helpers) lists run records.

A record that cannot be trusted — malformed, half-written, newer than this mlci, or lying about
its job id — is reported by path in one line and skipped; the other runs still list, and no
command ends in an internal error because of another run's record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from mlci.contract import PROJECT_RE, RUNS_DIR, STATUS_FILE
from mlci.errors import UsageError
from mlci.record.store import RunRecord, UnreadableRecord, check_names, runs_dir

Report = Callable[[str], None]


def _stderr(line: str) -> None:
    import click

    click.echo(f"mlci: skipping {line}", err=True)


def run_bases(root: Path, *, everywhere: bool) -> list[Path]:
    """Where records are read: the runs directory (MLCI_RUNS_DIR when set), and with `everywhere`
    the checkout's own .mlci/runs too — a developer's local runs beside the host's."""
    bases = [runs_dir(root)]
    local = root / RUNS_DIR
    if everywhere and local not in bases:
        bases.append(local)
    return bases


def iter_records(
    root: Path, project: str | None = None, *, report: Report | None = _stderr, everywhere: bool = False
) -> Iterator[RunRecord]:
    """Every readable record, newest first; each unreadable one is reported (unless `report` is None)."""
    found: list[RunRecord] = []
    for base in run_bases(root, everywhere=everywhere):
        found += _read_base(base, project, report)
    found.sort(key=lambda r: r.state.created_at, reverse=True)
    return iter(found)


def _read_base(base: Path, project: str | None, report: Report | None) -> list[RunRecord]:
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
    return found


def find_job(root: Path, reference: str) -> RunRecord:
    """A run named `PROJECT/JOB`, or `JOB` when exactly one project has a run of that id."""
    project, _, job = reference.rpartition("/")
    if project:
        return find_record(root, project, job, everywhere=True)
    check_names("x", job)
    # only directories named JOB are read: a lookup among thousands of runs loads one or two records
    matches = []
    for base in run_bases(root, everywhere=True):
        for directory in sorted(base.glob(f"*/{job}")) if base.is_dir() else []:
            if PROJECT_RE.fullmatch(directory.parent.name) and (directory / STATUS_FILE).exists():
                matches.append(find_record(root, directory.parent.name, job, everywhere=True))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no run '{job}' in any project", hint="list runs with `mlci history PROJECT`")
    projects = ", ".join(sorted({r.project for r in matches}))
    raise UsageError(f"run '{job}' exists in several projects ({projects})", hint="name it as PROJECT/JOB")


def find_record(root: Path, project: str, job_id: str | None = None, *, everywhere: bool = False) -> RunRecord:
    """A project's record by job id, or its latest readable one."""
    check_names(project, job_id)
    if job_id:
        candidates = [base / project / job_id for base in run_bases(root, everywhere=everywhere)]
        directory = next((d for d in candidates if (d / STATUS_FILE).exists()), candidates[0])
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
