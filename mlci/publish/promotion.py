"""Promotion: a published model version made current in an environment (qa, prod, ...) of mlci.yaml.

`promote` takes the version's entry from the source store's version index, copies its outputs into
the environment's store at `<project>/envs/<env>/<version>/` (checked against the content digest the
index recorded), points `<project>/envs/<env>/current` at it, and appends the promotion — which
version, which it replaced, who, when — to the per-project promotion log in that store
(stores/local_promotions.py). Rolling back is promoting an earlier version.
"""

from __future__ import annotations

import difflib
import getpass
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from mlci.contract import PROJECT_RE
from mlci.errors import UsageError
from mlci.manifest.environments import Environment
from mlci.manifest.fields import NAME_RE
from mlci.manifest.schema import Manifest
from mlci.publish.promotion_log import WHO_RE, Promotion, in_env
from mlci.publish.publishing import store_name_for
from mlci.publish.stores import open_store
from mlci.publish.stores.base import ArtifactStore
from mlci.publish.stores.local import LocalStore
from mlci.publish.stores.local_promotions import LocalPromotions
from mlci.publish.versions import find_version

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
        known = sorted(manifest.environments)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"environments in mlci.yaml: {', '.join(known) or 'none'}"
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


def _local(store: ArtifactStore, role: str) -> LocalStore:
    if not isinstance(store, LocalStore):
        raise UsageError(
            f"store '{store.name}' ({type(store).__name__}) cannot be a promotion's {role} in this mlci",
            hint="promotion copies between local stores (see README: Environments and promotion)",
        )
    return store


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
    source = _local(open_store(manifest, source_name, root), "source")
    entry = find_version(source.versions(project), version, project, source_name)
    target = _local(open_store(manifest, env.store, root), "target")
    log = LocalPromotions(target.path / project, project, max_bytes=manifest.runner.max_output_size)

    def make(previous: str | None, url: str) -> Promotion:
        at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return Promotion(
            env=env_name,
            project=project,
            version=entry.version,
            previous=previous,
            job_id=entry.job_id,
            source_store=source_name,
            by=person,
            at=at,
            digest=entry.digest,
            url=url,
        )

    return log.promote(env_name, entry, source.path / project, make)


def history(root: Path, manifest: Manifest, project: str, env_name: str) -> list[Promotion]:
    """`env_name`'s promotions of `project`, newest first (the first is current)."""
    check_project(project)
    env = environment(manifest, env_name)
    target = _local(open_store(manifest, env.store, root), "target")
    return in_env(LocalPromotions(target.path / project, project).read(), env_name)
