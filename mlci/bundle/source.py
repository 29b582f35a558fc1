"""What goes into a bundle, resolved and checked before anything is written: the version's entry in
the store's index, the version's own `serve:` (project.yaml at its commit), the model files (the version's outputs in a local store, or a checked copy from an S3 store,
through mlci.boundary: regular files only, no link followed) and the image in the Docker engine."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from mlci.boundary import OutputFile, scan_outputs
from mlci.contract import JOB_ID_RE
from mlci.errors import MlciError, UsageError
from mlci.manifest.schema import Manifest
from mlci.manifest.serve import Serve
from mlci.publish.promotion import check_project
from mlci.publish.publishing import store_name_for
from mlci.publish.stores import open_store
from mlci.publish.stores.local import LocalStore
from mlci.publish.version_cache import cached_outputs
from mlci.publish.version_serve import Say, version_serve
from mlci.publish.versions import VersionEntry, find_version
from mlci.runner.stage_cache import cache_path

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class BundleSource:
    store: str
    entry: VersionEntry
    serve: Serve
    model_dir: Path
    model_files: list[OutputFile]
    serve_source: str = ""  # where serve was read: `<commit>:projects/<p>/project.yaml`, or the checkout's


@dataclass(frozen=True)
class SourceImage:
    id: str  # sha256:<hex>, the config digest `docker save` writes
    reference: str
    size: int  # the engine's idea of its size: how much `docker save` will roughly write


def resolve(
    root: Path, manifest: Manifest, project: str, version: str, store_name: str | None, say: Say
) -> BundleSource:
    """The version's entry, its own serve: settings (project.yaml at its commit) and its model files."""
    check_project(project)
    name = store_name_for(root, manifest, project, store_name)
    store = open_store(manifest, name, root)
    if not isinstance(store, LocalStore) and not store.supports_versions:
        raise UsageError(
            f"store '{name}' ({type(store).__name__}) keeps no versions: mlci bundle reads a version's model files"
            " from a local or S3 store",
            hint="bundle from a store that holds the version (--store NAME), e.g. the one it was promoted to",
        )
    entry = find_version(store.versions(project), version, project, name)
    serve = version_serve(root, entry, say)
    if isinstance(store, LocalStore):
        model_dir = _model_dir(store, project, entry)
    else:  # S3: a checked copy under the stage-cache root, reused next time (mlci.publish.version_cache)
        cache = cache_path(manifest.runner.cache_dir)
        model_dir = cached_outputs(store, entry, cache, store.max_output_bytes, say)
    files = scan_outputs(model_dir, max_bytes=store.max_output_bytes)
    return BundleSource(name, entry, serve.serve, model_dir, files, serve.source)


def _model_dir(store: LocalStore, project: str, entry: VersionEntry) -> Path:
    """The version's outputs: the entry's file:// URL, which must be `<store>/<project>/<job>`."""
    if not JOB_ID_RE.fullmatch(entry.job_id):
        raise MlciError(f"{entry.version} of {project}: job id {entry.job_id[:40]!r} in the index is not one")
    expected = (store.path / project).resolve() / entry.job_id  # the job's own directory is never followed
    parsed = urlparse(entry.url)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise MlciError(f"{entry.version} of {project}: its URL {entry.url[:200]!r} is not a file:// URL in the store")
    if Path(unquote(parsed.path)) != expected:
        raise MlciError(
            f"{entry.version} of {project}: its URL {entry.url[:200]!r} is not the store's copy ({expected})",
            hint="the version index was edited or the store moved; bundle from the store the version was published to",
        )
    try:
        info = os.lstat(expected)
    except FileNotFoundError:
        raise MlciError(
            f"{entry.version} of {project}: its model files {expected} are missing from the store"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise MlciError(f"{entry.version} of {project}: {expected} is not a directory (a link is never followed)")
    return expected


def find_image(client: docker.DockerClient, entry: VersionEntry, project: str) -> SourceImage:
    """The version's image in this engine, by the id or repo digest the index recorded."""
    from docker.errors import ImageNotFound, NotFound

    reference = entry.image_digest
    if not reference:
        raise MlciError(
            f"{entry.version} of {project} records no image, so there is nothing to bundle",
            hint="publish a run that built its image (mlci run), then bundle that version",
        )
    try:
        image = client.images.get(reference)
    except (ImageNotFound, NotFound):
        pull = f"`docker pull {reference}`" if "@" in reference else "rebuild it on this host (mlci run)"
        raise MlciError(
            f"the image of {project} {entry.version} ({reference[:80]}) is not in this Docker engine",
            hint=f"{pull}, then bundle again",
        ) from None
    return SourceImage(image.id, reference, int(image.attrs.get("Size") or 0))
