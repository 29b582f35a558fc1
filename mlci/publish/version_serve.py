"""The `serve:` settings of a published version: project.yaml's `serve:` *at the version's commit*.

A version's image was built from its commit, so the command, port and health check that start it are
the ones that commit's project.yaml named — not today's (a rollback must run v1 the way v1 ran). The
commit comes from the version index, which is hostile input: it must be a full hex SHA before it
reaches Git. The file is read with `git cat-file` (its size checked first, the read bounded) and
validated by the same typed loader as the checkout's project.yaml, errors located as
`<commit>:projects/<p>/project.yaml:line:col`.

When the entry records no commit, or the commit is not in this repository (a shallow clone, an index
written elsewhere), the checkout's project.yaml is used instead, and `say` is told so in one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlci.errors import ConfigError, MlciError, Problem, UsageError
from mlci.git import git, git_or_none
from mlci.manifest.fields import NAME_RE
from mlci.manifest.loader import PROJECT_FILE, PROJECTS_DIR, load_project, validate_source
from mlci.manifest.project import Project
from mlci.manifest.serve import Serve
from mlci.manifest.yamlsource import MAX_BYTES, parse_yaml
from mlci.publish.versions import VersionEntry

SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 object names, nothing Git would parse as an option

Say = Callable[[str], None]


@dataclass(frozen=True)
class VersionServe:
    serve: Serve
    source: str  # where it was read: `<commit>:projects/<p>/project.yaml`, or the checkout's file
    fallback: bool  # True: the checkout's project.yaml, because the version's commit was not available


def version_serve(root: Path, entry: VersionEntry, say: Say) -> VersionServe:
    """`entry`'s serve: settings; exit 2 (UsageError) when that project.yaml has no `serve:`."""
    project = entry.project
    if not isinstance(project, str) or not re.fullmatch(NAME_RE, project):
        raise MlciError(f"the version index names {str(project)[:80]!r} as the project, which is not a project name")
    rel = f"{PROJECTS_DIR}/{project}/{PROJECT_FILE}"
    commit = entry.commit
    reason = _unavailable(root, commit)
    if reason is None:
        assert commit is not None
        source = f"{commit}:{rel}"
        serve = _at_commit(root, commit, rel, source).serve
    else:
        source = rel
        say(f"{project} {entry.version}: {reason}, so its serve: settings are read from the checkout's {rel}")
        serve = load_project(root, project).config.serve
    if serve is None:
        raise UsageError(
            f"{project} {entry.version} has no serve: in {source}, so there is nothing to start it with",
            hint="serve: is read from project.yaml at the version's commit: publish a run whose project.yaml has"
            " serve: {command: ..., port: ...} as a new version (see README: Deployment)",
        )
    return VersionServe(serve, source, reason is not None)


def _unavailable(root: Path, commit: str | None) -> str | None:
    """Why the version's commit cannot be read here, or None when it can."""
    if not commit:
        return "the version index records no commit"
    if not isinstance(commit, str) or not SHA_RE.fullmatch(commit):
        raise MlciError(
            f"the version index records {str(commit)[:80]!r} as a commit, which is not a hex commit id",
            hint="the version index was edited by hand: restore it from a backup",
        )
    if git_or_none(root, "cat-file", "-t", commit) != "commit":
        return f"its commit {commit[:12]} is not in this repository (a shallow clone, or an index from elsewhere)"
    return None


def _at_commit(root: Path, commit: str, rel: str, source: str) -> Project:
    spec = f"{commit}:./{rel}"
    if git_or_none(root, "cat-file", "-t", spec) != "blob":
        raise UsageError(
            f"{rel} does not exist at the version's commit {commit[:12]}, so its serve: settings are unknown",
            hint="deploy or bundle a version published from this project's directory",
        )
    size = int(git_or_none(root, "cat-file", "-s", spec) or 0)
    if size > MAX_BYTES:
        raise ConfigError([Problem(source, 1, 1, "", f"is {size} bytes, over the {MAX_BYTES} byte limit")])
    data = git(root, "cat-file", "blob", spec, max_output=MAX_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(source, 1, 1, "", f"not UTF-8 text ({exc.reason})")]) from None
    return validate_source(parse_yaml(text, source), Project)
