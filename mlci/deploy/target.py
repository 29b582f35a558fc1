"""What `mlci deploy PROJECT --env ENV [--version V]` serves: the version's entry in the version index,
the image it records, and the directory of its outputs that is mounted read-only at /mlci/model.

The version is `--version V` from the project's publish store, else what is current in ENV (its
promotion log). The outputs are the environment store's promoted copy (`<project>/envs/<env>/<version>/`)
when the version was promoted there, else the directory the version was published to — or, when that
lies in an S3 store, a checked copy under the stage-cache root (mlci.publish.version_cache): a bind
mount needs a path on the engine's host. Either is checked against the content digest the index
recorded, so what serves is what was published. Everything read here comes
from a store and is treated as hostile: names are checked, links are never followed out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from mlci.errors import MlciError, UsageError
from mlci.manifest.environments import promoted_path
from mlci.manifest.schema import Manifest
from mlci.publish.promotion import check_project, environment, history
from mlci.publish.promotion_log import Promotion
from mlci.publish.publishing import store_name_for
from mlci.publish.registry import resolve_image
from mlci.publish.stores import open_store
from mlci.publish.stores.base import content_digest, content_entries
from mlci.publish.stores.local import LocalStore
from mlci.publish.version_cache import Say, cached_outputs
from mlci.publish.versions import VersionEntry, find_version
from mlci.record.parts import VERSION_PATTERN
from mlci.runner.stage_cache import cache_path

# What a version index may record as its image: a local image id, or a pushed image's repo digest.
IMAGE_ID_RE = re.compile(r"sha256:[0-9a-f]{64}")
REPO_DIGEST_RE = re.compile(r"[a-z0-9][a-z0-9._:/-]{0,254}@sha256:[0-9a-f]{64}")


def _quiet(_message: str) -> None:
    pass


@dataclass(frozen=True)
class Target:
    project: str
    env: str
    version: str
    job_id: str
    image: str  # as the index records it: a local image id or a repo digest
    model_dir: Path  # a real directory in a local store, its content the published one
    promoted: bool  # model_dir is the environment store's promoted copy
    entry: VersionEntry  # the version index's entry (its commit names the version's serve: settings)

    @property
    def digest(self) -> str | None:
        """The outputs' content digest the index recorded."""
        return self.entry.digest


def check_version(version: str) -> str:
    if len(version) > 16 or not re.fullmatch(VERSION_PATTERN, version):
        raise UsageError(f"{version[:64]!r} is not a model version", hint="use v1, v2, ... (see `mlci versions`)")
    return version


def resolve_target(
    root: Path, manifest: Manifest, project: str, env_name: str, version: str | None, say: Say = _quiet
) -> Target:
    """The version of `project` to serve in `env_name`: `version`, else the one current there."""
    check_project(project)
    env = environment(manifest, env_name)
    if version is not None:
        check_version(version)
    env_store = open_store(manifest, env.store, root)
    promotions = history(root, manifest, project, env_name)
    current: Promotion | None = None
    if version is None:
        if not promotions:
            raise UsageError(
                f"nothing of {project} is promoted to {env_name}, so nothing is current there to deploy",
                hint=f"promote a version (`mlci promote {project} VERSION --to {env_name}`), or pass --version V"
                f" (see `mlci versions {project}`)",
            )
        current = promotions[0]
        version, source_name = current.version, current.source_store
    else:
        source_name = store_name_for(root, manifest, project, None)
    entry = find_version(open_store(manifest, source_name, root).versions(project), version, project, source_name)
    if current is None and (env.approval or env.after) and not any(p.job_id == entry.job_id for p in promotions):
        # a guarded environment serves only what reached it by promotion: a deploy must not bypass the
        # approval or the `after` gate; what it ran before (a rollback) is fine
        guard = "needs approval" if env.approval else f"takes only what passed {env.after}"
        raise UsageError(
            f"{project} {version} was never promoted to {env_name}, which {guard}; nothing was deployed",
            hint=f"promote it first (mlci promote {project} {version} --to {env_name}), then deploy; or deploy a"
            f" version {env_name} ran before (see `mlci versions {project} --env {env_name}`)",
        )
    if current is not None and entry.job_id != current.job_id:
        raise MlciError(
            f"{env_name}'s promotion log names {project} {version} of job {current.job_id}, but store"
            f" '{source_name}' lists {version} as job {entry.job_id}; nothing was deployed",
            hint="the version index or the promotion log was changed by hand: restore them from a backup",
        )
    was_promoted = any(p.version == version for p in promotions)
    model_dir, promoted, checked = _model_dir(root, manifest, env_store, env_name, entry, was_promoted, say)
    if not checked:
        _check_content(entry, model_dir, manifest.runner.max_output_size)
    return Target(
        project=project,
        env=env_name,
        version=version,
        job_id=entry.job_id,
        image=entry.image_digest or "",
        model_dir=model_dir,
        promoted=promoted,
        entry=entry,
    )


def deployed_entry(
    root: Path, manifest: Manifest, project: str, env_name: str, version: str, job_id: str
) -> VersionEntry:
    """The version index's entry of what serves (its container's version and job labels): from the store
    it was promoted from when `env_name` ran it by promotion, else from the project's publish store."""
    check_version(version)
    source_name = next(
        (
            p.source_store
            for p in history(root, manifest, project, env_name)
            if (p.version, p.job_id) == (version, job_id)
        ),
        None,
    ) or store_name_for(root, manifest, project, None)
    entry = find_version(open_store(manifest, source_name, root).versions(project), version, project, source_name)
    if entry.job_id != job_id:
        raise MlciError(
            f"{project} {version} serving in {env_name} is job {job_id[:80]}, but store '{source_name}' lists"
            f" {version} as job {entry.job_id}",
            hint=f"deploy it again (`mlci deploy {project} --env {env_name} --version {version}`)",
        )
    return entry


def _model_dir(
    root: Path,
    manifest: Manifest,
    env_store: Any,
    env_name: str,
    entry: VersionEntry,
    was_promoted: bool,
    say: Say,
) -> tuple[Path, bool, bool]:
    """The environment's promoted copy when there is one, else the published directory — or, for a
    remote store (S3), a checked host-local copy of it (the third value: already checked)."""
    if was_promoted and isinstance(env_store, LocalStore):
        copy = env_store.path / promoted_path(env_name, entry.project) / entry.version
        if not copy.is_symlink() and copy.is_dir():
            return copy.resolve(), True, False
    store = open_store(manifest, entry.store, root)
    if not isinstance(store, LocalStore):
        if store.supports_versions:
            cache = cache_path(manifest.runner.cache_dir)
            return cached_outputs(store, entry, cache, manifest.runner.max_output_size, say), False, True
        raise UsageError(
            f"{entry.project} {entry.version} lies in store '{entry.store}' ({type(store).__name__}); mlci deploy"
            " mounts the model from a local or S3 store only",
            hint="promote it to an environment whose store is local or S3 (`mlci promote`), then deploy from there",
        )
    path = _local_path(entry.url, entry)
    base = (store.path / entry.project).resolve()
    if path.is_symlink() or not path.is_dir():
        raise MlciError(
            f"{entry.project} {entry.version}: its outputs {path} are missing from store '{entry.store}'",
            hint="restore the store from a backup, or publish the run again as a new version",
        )
    resolved = path.resolve()
    if not resolved.is_relative_to(base):
        raise MlciError(f"{entry.project} {entry.version}: its URL points outside store '{entry.store}' ({base})")
    return resolved, False, False


def _local_path(url: str, entry: VersionEntry) -> Path:
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
        raise MlciError(f"{entry.project} {entry.version}: its URL {url[:200]!r} is not a local file:// URL")
    path = url2pathname(unquote(parts.path))
    if "\x00" in path or "\n" in path or not path.startswith("/"):
        raise MlciError(f"{entry.project} {entry.version}: its URL {url[:200]!r} is not an absolute path")
    return Path(path)


def _check_content(entry: VersionEntry, model_dir: Path, max_bytes: int) -> None:
    """The outputs must be what was published (links or special files are refused by mlci.boundary)."""
    if entry.digest is None:
        return
    got = "sha256:" + content_digest(content_entries(model_dir, max_bytes))
    if got != entry.digest:
        raise MlciError(
            f"{entry.project} {entry.version}: the outputs at {model_dir} are not what was published"
            f" (content {got[:19]}…, index {entry.digest[:19]}…); nothing was deployed",
            hint="the store was changed after publishing: restore it, or publish again as a new version",
        )


def ensure_image(client: Any, target: Target, say: Any) -> str:
    """The local id of the version's image: a local image id must be here; a repo digest is pulled
    when absent (mlci.publish.registry: retried, and checked to carry that digest)."""
    from docker.errors import ImageNotFound

    ref = target.image
    what = f"{target.project} {target.version}"
    if not ref:
        raise MlciError(
            f"{what} records no image (it was published by an older mlci)",
            hint="publish the run again with this mlci, or deploy another version",
        )
    if REPO_DIGEST_RE.fullmatch(ref):
        try:
            return client.api.inspect_image(ref)["Id"]
        except ImageNotFound:
            say(f"pulling {ref}")
            return resolve_image(client, ref).id
    if not IMAGE_ID_RE.fullmatch(ref):
        raise MlciError(f"{what} records an image reference mlci does not use: {ref[:120]!r}")
    try:
        return client.api.inspect_image(ref)["Id"]
    except ImageNotFound:
        raise MlciError(
            f"{what}'s image {ref[:19]}… is not in this Docker engine (a local image id cannot be pulled)",
            hint="deploy on the host that built it, copy it here (`docker save | docker load`), or set"
            " build.registry so published versions record a pushed digest that deploys pull (`mlci push`)",
        ) from None
