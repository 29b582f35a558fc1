"""Promotion: a published model version made current in an environment (qa, prod, ...) of mlci.yaml.

`promote` takes the version's entry from the source store's version index, copies its outputs into
the environment's store at `<project>/envs/<env>/<version>/` (checked against the content digest the
index recorded), points `<project>/envs/<env>/current` at it, and appends the promotion — which
version, which it replaced, who, when — to the per-project promotion log in that store. Each store
type keeps these its own race-free way (`ArtifactStore.promotions`: stores/local_promotions.py,
stores/s3_promotions.py); the source may be any store that keeps versions. Rolling back is promoting
an earlier version.

`record_itest` appends an integration-test verdict of a promoted version to the itest log beside
the promotion log; an environment with `after: <env>` takes only a version that is current in
<env> and whose newest verdict there passed (promotion_gate.py).
"""

from __future__ import annotations

import getpass
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from mlci.contract import PROJECT_RE
from mlci.errors import UsageError
from mlci.manifest.environments import Environment, unknown_environment_hint
from mlci.manifest.fields import NAME_RE
from mlci.manifest.schema import Manifest
from mlci.publish.promotion_gate import itest_verdict, refuse_unless_passed_before
from mlci.publish.promotion_log import WHO_RE, ItestVerdict, Promotion, in_env
from mlci.publish.publishing import store_name_for
from mlci.publish.stores import open_store
from mlci.publish.stores.base import job_of
from mlci.publish.stores.promotions import Promotions
from mlci.publish.versions import VersionEntry, find_version
from mlci.record.parts import VERSION_PATTERN

# Set by Jenkins' mlci-promote job, after its `input` was approved, to the environment's name. A guard
# against promoting to a guarded environment by accident from a shell — not security: whoever can run
# mlci with the store's credentials can set it.
APPROVED_ENV = "MLCI_PROMOTE_APPROVED"


def check_project(project: str) -> str:
    if not PROJECT_RE.fullmatch(project):
        raise UsageError(
            f"{project[:64]!r} is not a valid project name", hint="use lowercase letters, digits and dashes"
        )
    return project


def environment(manifest: Manifest, name: str) -> Environment:
    if not re.fullmatch(NAME_RE, name):
        raise UsageError(
            f"{name[:64]!r} is not an environment name", hint="use lowercase letters, digits and dashes (max 63)"
        )
    env = manifest.environments.get(name)
    if env is None:
        hint = unknown_environment_hint(manifest.environments, name)
        raise UsageError(f"no environment '{name}' in mlci.yaml", hint=hint)
    return env


def who(by: str | None) -> str:
    """--by, else $MLCI_USER, else the OS user; one word of safe characters."""
    name = by or os.environ.get("MLCI_USER") or getpass.getuser()
    if not re.fullmatch(WHO_RE, name):
        raise UsageError(f"{name[:64]!r} is not a user name", hint="pass --by with letters, digits, . _ @ or -")
    return name


def refuse_unapproved(env_name: str, env: Environment) -> None:
    if env.approval and os.environ.get(APPROVED_ENV) != env_name:
        raise UsageError(
            f"environment '{env_name}' requires approval: promote to it from Jenkins' mlci-promote job",
            hint=f"the job sets {APPROVED_ENV}={env_name} once a person approved; a guard against accidents, not a"
            " permission check",
        )


def promotions_in(root: Path, manifest: Manifest, env: Environment, project: str) -> Promotions:
    """`project`'s promotion and itest logs in `env`'s store, kept the way its store type keeps them."""
    return open_store(manifest, env.store, root).promotions(project)


def promote(
    root: Path,
    manifest: Manifest,
    project: str,
    version: str,
    env_name: str,
    *,
    by: str | None = None,
    from_store: str | None = None,
) -> tuple[Promotion, bool]:
    """Make `version` of `project` current in `env_name`; (the promotion, whether it was recorded now —
    False when the version was current there already)."""
    check_project(project)
    env = environment(manifest, env_name)
    refuse_unapproved(env_name, env)
    person = who(by)
    source_name = store_name_for(root, manifest, project, from_store)
    source = open_store(manifest, source_name, root)
    entry = find_version(source.versions(project), version, project, source_name)
    job_of(entry)  # its job id names a directory or key prefix: checked before anything is read there
    target = promotions_in(root, manifest, env, project)
    if env.after is not None and not _was_current(target, env_name, entry):
        refuse_unless_passed_before(
            promotions_in(root, manifest, manifest.environments[env.after], project), env.after, env_name, entry
        )

    def make(previous: str | None, url: str) -> Promotion:
        return Promotion(
            env=env_name,
            project=project,
            version=entry.version,
            previous=previous,
            job_id=entry.job_id,
            source_store=source_name,
            by=person,
            at=_now(),
            digest=entry.digest,
            url=url,
        )

    return target.promote(env_name, entry, lambda dest: source.fetch_version(entry, dest), make)


def _was_current(target: Promotions, env_name: str, entry: VersionEntry) -> bool:
    """Whether `entry` — the same job and content — was promoted to `env_name` before: a rollback to it
    passed the `after` gate then, and must not depend on what the earlier environment runs today."""
    return any(
        (p.version, p.job_id, p.digest) == (entry.version, entry.job_id, entry.digest)
        for p in in_env(target.read(), env_name)
    )


def history(root: Path, manifest: Manifest, project: str, env_name: str) -> list[Promotion]:
    """`env_name`'s promotions of `project`, newest first (the first is current)."""
    check_project(project)
    env = environment(manifest, env_name)
    return in_env(promotions_in(root, manifest, env, project).read(), env_name)


def itests(root: Path, manifest: Manifest, project: str, env_name: str) -> list[ItestVerdict]:
    """`env_name`'s integration-test verdicts of `project`, newest first."""
    check_project(project)
    env = environment(manifest, env_name)
    return in_env(promotions_in(root, manifest, env, project).itests(), env_name)


def record_itest(
    root: Path,
    manifest: Manifest,
    project: str,
    env_name: str,
    version: str,
    *,
    passed: bool,
    by: str | None,
    job: str | None,
    detail: str,
) -> None:
    """Record that `version`'s integration test in `env_name` passed or failed, in the itest log of
    the environment's store. The version must have been promoted to `env_name`."""
    check_project(project)
    env = environment(manifest, env_name)
    if not re.fullmatch(VERSION_PATTERN, version):
        raise UsageError(f"{version[:64]!r} is not a model version", hint="use v1, v2, ... (see `mlci versions`)")
    verdict = itest_verdict(env_name, project, version, passed=passed, by=who(by), job=job, detail=detail, at=_now())
    log = promotions_in(root, manifest, env, project)
    if not any(p.version == version for p in in_env(log.read(), env_name)):
        raise UsageError(
            f"{project} {version} was never promoted to {env_name}: there is no deployment of it to have tested",
            hint=f"promote it first: mlci promote {project} {version} --to {env_name}",
        )
    log.record_itest(verdict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
