"""Which projects a release between two commits must train, and what each one needs.

Everything is read from Git at the head commit (not from the working tree), so the answer
depends only on (base, head): a project deleted at head is never planned, and a half-edited
checkout cannot change a release. The Jenkins library shells out to `mlci plan` and decides
nothing that can be decided here.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from mlci.errors import ConfigError, MlciError, Problem, UsageError
from mlci.git import GitError, git, git_or_none, git_text
from mlci.manifest.loader import MANIFEST_FILE, PROJECT_FILE, PROJECTS_DIR, load_manifest, load_project
from mlci.manifest.project import Project
from mlci.manifest.schema import Manifest
from mlci.release import approvals

# Paths whose change retrains everything, besides mlci.yaml and the manifest's jenkins.library.path.
ALWAYS_SHARED = ("Jenkinsfile",)
# `gpus: auto|all` in plan output: the host's count is known only to Jenkins, which then locks every
# `gpu@<host>` resource of the node it runs on.
ALL_GPUS = -1
# Jenkins' time limit for one `mlci run` adds this to the stages' own timeouts: the image build (mlci
# gives it no timeout of its own), stopping containers and writing the final record.
BUILD_ALLOWANCE_S = 3600
# ... plus slack, so that mlci's own stage timeouts always fire first and mlci records the outcome
# before Jenkins interrupts it: per stage run, starting its container, its SIGTERM grace and the
# record; once per run, the gate, copying the outputs to the store and the final record.
STAGE_SLACK_S = 30
RUN_SLACK_S = 300

_PROJECT_FILE_RE = re.compile(rf"^{PROJECTS_DIR}/([^/]+)/{PROJECT_FILE}$")


@dataclass(frozen=True)
class Range:
    """A resolved commit range; `base` is None when head has no parent (everything is new)."""

    base: str | None
    head: str


@dataclass(frozen=True)
class Planned:
    name: str
    gpus: int
    # project.yaml's `gpus` as text: auto, all, none, a count (2) or indexes (0,1). Not an `mlci run --gpus`
    # value: the CLI refuses a bare number (count=N or device=N); the library passes lease indexes or auto/all.
    gpus_spec: str
    approval: bool
    submitter: str | None
    approval_timeout_s: int
    store: str
    timeout_s: int  # Jenkins' limit for `mlci run`: build_s + attempts × stages_s + slack_s
    publish_secrets: tuple[str, ...]  # Jenkins credential ids the store needs, bound around `mlci publish`
    secrets: tuple[str, ...] = ()  # project.yaml's secrets and the tracker's, bound around `mlci run` only
    build_s: int = BUILD_ALLOWANCE_S
    attempts: int = 1
    stages_s: int = 0  # the sum of the stages' timeouts: the longest one attempt may take
    slack_s: int = 0  # STAGE_SLACK_S per stage run + RUN_SLACK_S: mlci times out and records first
    gpu_node: bool = False  # must run on a node labelled `gpu` (no silent CPU fallback)
    # The stages that use the project's GPUs (not `gpus: none`); empty: the run needs no GPU lease at all
    gpu_stages: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "gpus": self.gpus,
            "gpus_spec": self.gpus_spec,
            "approval": self.approval,
            "submitter": self.submitter,
            "approval_timeout_s": self.approval_timeout_s,
            "store": self.store,
            "timeout_s": self.timeout_s,
            "publish_secrets": list(self.publish_secrets),
            "secrets": list(self.secrets),
            "time_limit": {
                "build_s": self.build_s,
                "attempts": self.attempts,
                "stages_s": self.stages_s,
                "slack_s": self.slack_s,
            },
            "gpu_node": self.gpu_node,
            "gpu_stages": list(self.gpu_stages),
        }


def resolve(root: Path, ref: str, what: str) -> str:
    """The commit sha `ref` names, or a UsageError that says which option was wrong."""
    if not ref or ref.startswith("-") or any(c.isspace() or ord(c) < 32 for c in ref):
        raise UsageError(f"--{what}: {ref!r} is not a Git ref", hint="pass a branch, tag or commit sha")
    candidates = [ref]
    if not ref.startswith(("refs/", "origin/")):
        # Jenkins' clone has only remote-tracking branches: a branch name means origin/<name> there.
        candidates.append(f"refs/remotes/origin/{ref}")
    for candidate in candidates:
        try:
            return git_text(
                root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"
            ).strip()
        except GitError:
            continue
    if git_or_none(root, "rev-parse", "--git-dir") is None:
        raise UsageError(f"{root} is not inside a Git repository", hint="run mlci in a clone of the monorepo")
    raise UsageError(
        f"--{what}: unknown Git ref {ref!r}",
        hint="fetch it first (git fetch origin), or pass a branch, tag or commit sha that exists here",
    )


def resolve_range(root: Path, base: str | None, head: str) -> Range:
    """Resolve both refs; no base means head's first parent (the changes a merge commit brought)."""
    head_sha = resolve(root, head, "head")
    if base:
        return Range(resolve(root, base, "base"), head_sha)
    parents = git_text(root, "rev-list", "--parents", "-n", "1", head_sha).split()
    return Range(parents[1] if len(parents) > 1 else None, head_sha)


def changed_paths(root: Path, span: Range) -> list[str]:
    """Paths (relative to root) that differ between base and head; a rename counts as both paths."""
    if span.base is None:
        return []
    out = git_text(root, "diff", "--name-only", "-z", "--no-renames", "--relative", span.base, span.head, "--")
    return [p for p in out.split("\0") if p]


def read_blobs(root: Path, commit: str, paths: list[str]) -> dict[str, bytes]:
    """The files `paths` (relative to root) as stored in `commit`, read by one `git cat-file --batch`
    (one process for the whole repository: a process per file made `mlci plan` grow with its size)."""
    request = "".join(f"{commit}:./{rel}\n" for rel in paths).encode(errors="surrogateescape")
    blobs, out, pos = {}, git(root, "cat-file", "--batch", input=request), 0
    for rel in paths:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise MlciError(f"{rel} is not a file at {commit[:12]}")
        size = int(header[2])
        blobs[rel] = out[end + 1 : end + 1 + size]
        pos = end + 1 + size + 1  # the content is followed by a newline
    return blobs


@dataclass(frozen=True)
class Snapshot:
    """mlci.yaml and every project.yaml as they are at one commit."""

    manifest: Manifest
    projects: dict[str, Project]


def snapshot(root: Path, commit: str) -> Snapshot:
    """Load the manifest and project settings stored in `commit`, with the loader's located errors."""
    listed = git_text(root, "ls-tree", "-r", "-z", "--name-only", commit, "--", MANIFEST_FILE, f"{PROJECTS_DIR}/")
    files = [p for p in listed.split("\0") if p == MANIFEST_FILE or _PROJECT_FILE_RE.fullmatch(p)]
    with tempfile.TemporaryDirectory(prefix="mlci-plan-") as tmp:
        tree = Path(tmp)
        for rel, blob in read_blobs(root, commit, files).items():
            target = tree / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        manifest = load_manifest(tree)
        problems: list[Problem] = []
        projects: dict[str, Project] = {}
        for rel in files:
            match = _PROJECT_FILE_RE.fullmatch(rel)
            if not match:
                continue
            try:
                projects[match.group(1)] = load_project(tree, match.group(1)).config
            except ConfigError as exc:
                problems.extend(exc.problems)
            except UsageError as exc:  # a directory name that is not a valid project name
                problems.append(Problem(rel, 1, 1, "", str(exc)))
        if problems:
            raise ConfigError(problems)
    return Snapshot(manifest, projects)


def _under(path: str, prefix: str) -> bool:
    prefix = str(PurePosixPath(prefix.removeprefix("./"))).rstrip("/")
    return prefix in ("", ".") or path == prefix or path.startswith(prefix + "/")


def shared_paths(manifest: Manifest) -> tuple[str, ...]:
    return (MANIFEST_FILE, manifest.jenkins.library.path, *ALWAYS_SHARED)


def affected(snap: Snapshot, changed: list[str], *, first_release: bool = False) -> list[str]:
    """Projects at head whose directory, a `depends_on` path, or a shared path changed."""
    names = sorted(snap.projects)
    if first_release or any(_under(p, s) for p in changed for s in shared_paths(snap.manifest)):
        return names
    hit = []
    for name in names:
        watched = (f"{PROJECTS_DIR}/{name}", *snap.projects[name].depends_on)
        if any(_under(p, w) for p in changed for w in watched):
            hit.append(name)
    return hit


def gpu_count(gpus: object) -> int:
    """Plan's GPU count: none → 0, N → N, [i, j] → 2, auto/all → ALL_GPUS (every GPU of the node)."""
    if gpus == "none":
        return 0
    if isinstance(gpus, int) and not isinstance(gpus, bool):
        return gpus
    if isinstance(gpus, list):
        return len(gpus)
    return ALL_GPUS


def gpu_spec(gpus: object) -> str:
    return ",".join(str(i) for i in gpus) if isinstance(gpus, list) else str(gpus)


def gpu_stages(project: Project) -> tuple[str, ...]:
    """The stages that run with the project's GPUs: none when the project's `gpus` is none."""
    if project.gpus == "none":
        return ()
    return tuple(stage.name for stage in project.stages if stage.gpus != "none")


def planned(snap: Snapshot, name: str, max_attempts: int | None = None) -> Planned:
    """One project's plan entry; `max_attempts` (mlci plan --max-attempts) replaces retrain.max_attempts."""
    project = snap.projects[name]
    store = project.publish.store or snap.manifest.artifacts.default
    stores = snap.manifest.artifacts.stores
    if store not in snap.manifest.artifacts.stores:
        choices = ", ".join(sorted(snap.manifest.artifacts.stores))
        raise ConfigError(
            [
                Problem(
                    f"{PROJECTS_DIR}/{name}/{PROJECT_FILE}",
                    1,
                    1,
                    "publish.store",
                    f"store '{store}' is not defined in {MANIFEST_FILE} — use one of: {choices}",
                )
            ]
        )
    stages_s = sum(stage.timeout or project.timeout for stage in project.stages)
    attempts = max_attempts or project.retrain.max_attempts
    slack_s = attempts * len(project.stages) * STAGE_SLACK_S + RUN_SLACK_S
    return Planned(
        name=name,
        gpus=gpu_count(project.gpus),
        gpus_spec=gpu_spec(project.gpus),
        approval=project.publish.approval,
        submitter=approvals.submitter(snap.manifest, name, project.publish),
        approval_timeout_s=project.publish.approval_timeout,
        store=store,
        # The longest `mlci run` may take: the build, then every attempt running every stage to its timeout.
        timeout_s=BUILD_ALLOWANCE_S + attempts * stages_s + slack_s,
        publish_secrets=tuple(
            sorted(n for n in (stores[store].access_key_id, stores[store].secret_access_key, stores[store].token) if n)
        ),
        secrets=tuple(sorted(set(project.secrets) | set(tracking_secrets(snap.manifest)))),
        build_s=BUILD_ALLOWANCE_S,
        attempts=attempts,
        stages_s=stages_s,
        slack_s=slack_s,
        gpu_node=needs_gpu_node(project.gpus, snap.manifest) and bool(gpu_stages(project)),
        gpu_stages=gpu_stages(project),
    )


def tracking_secrets(manifest: Manifest) -> list[str]:
    """The MLflow server's credentials: `mlci run` sends the run there when it ends (never to the stages)."""
    mlflow = manifest.tracking.mlflow
    return [n for n in (mlflow.username, mlflow.password) if n] if mlflow else []


def needs_gpu_node(gpus: object, manifest: Manifest) -> bool:
    """GPU projects run only on GPU nodes; `auto` falls back to the CPU only where no host has a GPU."""
    if gpus == "none":
        return False
    if not manifest.hosts:
        # No hosts: Jenkins' built-in node runs everything and has no `gpu` label, so a GPU node would
        # be waited for forever; the library fails such a project at once instead (host_gpus: 0).
        return False
    if gpus == "auto":
        return any(h.gpus for h in manifest.hosts)
    return True


@dataclass(frozen=True)
class Plan:
    span: Range
    projects: list[Planned]
    skipped: list[str]  # asked for with --projects but unchanged (and not --force)
    notify_secrets: list[str]  # Jenkins credential ids bound around `mlci notify`
    host_gpus: dict[str, int]  # GPUs per host in mlci.yaml, so Jenkins never waits on a lock that cannot be granted

    def to_json(self) -> dict[str, object]:
        return {
            "base": self.span.base,
            "head": self.span.head,
            "commit": self.span.head,
            "projects": [p.to_json() for p in self.projects],
            "skipped": self.skipped,
            "notify_secrets": self.notify_secrets,
            "host_gpus": self.host_gpus,
        }


CASC_FILE = "jenkins/casc.yaml"
CASC_MAX_BYTES = 5 * 1024 * 1024


def lock_drift(root: Path, commit: str, manifest: Manifest) -> list[str]:
    """Hosts whose GPU count in mlci.yaml differs from the lockable resources in the committed
    jenkins/casc.yaml (none when the repository keeps no rendered casc.yaml)."""
    if not git_text(root, "ls-tree", "--name-only", commit, "--", CASC_FILE).strip():
        return []
    if int(git_text(root, "cat-file", "-s", f"{commit}:./{CASC_FILE}").strip()) > CASC_MAX_BYTES:
        return [f"{CASC_FILE} is larger than {CASC_MAX_BYTES} bytes"]
    try:
        casc = yaml.safe_load(git_text(root, "cat-file", "blob", f"{commit}:./{CASC_FILE}")) or {}
        declared = ((casc.get("unclassified") or {}).get("lockableResourcesManager") or {}).get("declaredResources")
    except (yaml.YAMLError, AttributeError):
        return [f"{CASC_FILE} is not the YAML mlci render writes"]
    have: dict[str, int] = {}
    for resource in declared or []:
        label = resource.get("labels") if isinstance(resource, dict) else None
        if isinstance(label, str) and label.startswith("gpu@"):
            have[label[4:]] = have.get(label[4:], 0) + 1
    want = {h.name: h.gpus for h in manifest.hosts if h.gpus and "agent" in h.roles}
    return [
        f"mlci.yaml gives host {host} {want.get(host, 0)} GPU(s) but {CASC_FILE} declares {have.get(host, 0)} "
        f"lockable resource(s) gpu@{host}"
        for host in sorted(set(want) | set(have))
        if want.get(host, 0) != have.get(host, 0)
    ]


def plan(
    root: Path,
    base: str | None,
    head: str,
    *,
    only: list[str] | None = None,
    force: bool = False,
    max_attempts: int | None = None,
) -> Plan:
    """The release plan: affected projects (or `only` those named; `force` ignores what changed;
    `max_attempts` replaces each project's retrain.max_attempts, time limits included)."""
    span = resolve_range(root, base, head)
    snap = snapshot(root, span.head)
    drift = lock_drift(root, span.head, snap.manifest)
    if drift:
        raise UsageError(
            "; ".join(drift) + f" (at {span.head[:12]})",
            hint="run `mlci render`, commit the result and apply it (ansible-playbook): Jenkins would otherwise "
            "lock GPUs that are not there, or never hand out the ones that are",
        )
    for name in only or []:
        if name not in snap.projects:
            known = ", ".join(sorted(snap.projects)) or "none"
            raise UsageError(f"--projects: no project {name!r} at {span.head[:12]}", hint=f"known projects: {known}")
    wanted = sorted(set(only)) if only else sorted(snap.projects)
    if force:
        chosen, skipped = wanted, []
    else:
        hit = set(affected(snap, changed_paths(root, span), first_release=span.base is None))
        chosen = [n for n in wanted if n in hit]
        skipped = [n for n in wanted if n not in hit] if only else []
    slack = snap.manifest.notifications.slack
    # No hosts: builds run on Jenkins' built-in node, which has no GPU resources to lock; 0 makes the
    # library run `auto`/`all` without a lock instead of waiting forever for one.
    host_gpus = {h.name: h.gpus for h in snap.manifest.hosts} or {"built-in": 0}
    return Plan(
        span, [planned(snap, n, max_attempts) for n in chosen], skipped, [slack.webhook] if slack else [], host_gpus
    )
