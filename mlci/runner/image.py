"""Project images: a tag derived from the build context's content, so an unchanged project
skips `docker build` entirely (no context upload, no layer walk)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import MlciError
from mlci.manifest.schema import DEFAULT_BASE_IMAGE
from mlci.progress import Phase, Phases, show_tail

if TYPE_CHECKING:
    import docker

# docker-py (with requests, ~0.3 s) is imported in the functions that talk to the engine, so that
# commands which never do (`mlci --help`, validate, status) do not pay for it; tests/test_layout.py checks.

HASH_VERSION = "mlci-context-v1"
_STEP = re.compile(r"Step (\d+)/(\d+) : ")


class BuildFailed(MlciError):
    """`docker build` failed; the log says why."""


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    image_id: str
    cache_hit: bool
    context_hash: str


def read_dockerignore(context: Path) -> list[str]:
    """Patterns exactly as the Docker SDK reads them for the build context."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_hash(context: Path, base_image_id: str, build_args: dict[str, str]) -> str:
    """sha256 over the files Docker would send (respecting .dockerignore), modes, the base image id
    and the build args: equal hash ⇔ `docker build` would produce the same image."""
    from docker.utils.build import exclude_paths

    digest = hashlib.sha256()
    digest.update(f"{HASH_VERSION}\0{base_image_id}\0".encode())
    for key in sorted(build_args):
        digest.update(f"arg\0{key}={build_args[key]}\0".encode())
    for rel in sorted(exclude_paths(str(context), read_dockerignore(context), dockerfile="Dockerfile")):
        path = context / rel
        digest.update(f"path\0{rel}\0".encode())
        if path.is_symlink():
            digest.update(f"link\0{os.readlink(path)}\0".encode())
        elif path.is_file():
            digest.update(f"mode\0{path.stat().st_mode & 0o111:o}\0".encode())
            with path.open("rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
        else:
            digest.update(b"dir\0")
    return digest.hexdigest()


def resolve_base_image(client: docker.DockerClient, reference: str) -> str:
    """The base image's id; pulled when absent, else an error that says how to build it offline."""
    from docker.errors import APIError, ImageNotFound

    try:
        return client.images.get(reference).id
    except ImageNotFound:
        pass
    hint = (
        f"build it without a registry: `mlci base-image build --tag {reference}`"
        " (add --ca-bundle/--pip-index-url behind a TLS proxy or mirror)"
    )
    if reference == DEFAULT_BASE_IMAGE or reference.startswith("mlci/"):
        raise MlciError(f"base image {reference} is not present in the Docker engine", hint=hint)
    try:
        return client.images.pull(reference).id
    except APIError as exc:
        reason = (exc.explanation or str(exc)).splitlines()[0][:200]
        raise MlciError(
            f"base image {reference} is not present and could not be pulled ({reason})", hint=hint
        ) from None


def build_image(
    client: docker.DockerClient,
    *,
    project: str,
    context: Path,
    base_image: str,
    network: str,
    build_args: dict[str, str],
    no_cache: bool,
    log: Callable[[str], None],
    phases: Phases | None = None,
    log_path: Path | None = None,
) -> BuiltImage:
    """Reuse the image tagged with the context hash, or build it, streaming the build output to `log`.
    With `phases`, the console gets one line per phase (cache hit, or the build with its step count)
    and, when the build fails, the last lines of `log_path`."""
    from docker.errors import ImageNotFound

    if not (context / "Dockerfile").is_file():
        raise MlciError(f"projects/{project}/Dockerfile is missing", hint="add one (see `mlci new` for a template)")
    base_id = resolve_base_image(client, base_image)
    args = {"BASE_IMAGE": base_image, **build_args}
    chash = context_hash(context, base_id, args)
    tag = f"mlci/{project}:{chash[:16]}"
    if not no_cache:
        try:
            image = client.images.get(tag)
            log(f"cache hit: {tag} ({image.short_id}) matches the build context; build skipped\n")
            if phases:
                phases.say(f"{project}: image {tag} is up to date (cache hit)")
            return BuiltImage(tag, image.id, True, chash)
        except ImageNotFound:
            pass
    log(f"building {tag} from projects/{project} on {base_image}\n")
    build = {
        "path": str(context),
        "tag": tag,
        "buildargs": args,
        "labels": {"mlci.project": project, "mlci.context-hash": chash, "mlci.base-image-id": base_id},
        "nocache": no_cache,
        "network_mode": None if network == "default" else network,
    }
    if phases is None:
        return BuiltImage(tag, _build(client, build, log, None), False, chash)
    if log_path:
        phases.say(f"{project}: building {tag}; full log: {log_path}")
    try:
        with phases.phase(f"{project}: build") as phase:
            return BuiltImage(tag, _build(client, build, log, phase), False, chash)
    except BuildFailed:
        if log_path and not phases.verbose:  # with -v the whole log is already on the console
            show_tail(phases, log_path)
        raise


def _build(client: docker.DockerClient, build: dict, log: Callable[[str], None], phase: Phase | None) -> str:
    """`docker build`, its output to `log` and its step count to `phase`; the new image's id."""
    from docker.errors import APIError

    error = None
    try:
        for chunk in client.api.build(**build, rm=True, forcerm=True, pull=False, decode=True):
            if "stream" in chunk:
                log(chunk["stream"])
                if phase and (step := _STEP.match(chunk["stream"])):
                    phase.count(f"step {step[1]}/{step[2]}")
            elif "status" in chunk:
                log(f"{chunk['status']} {chunk.get('progress', '')}\n")
            if "error" in chunk:
                error = chunk["error"].strip()
                log(f"ERROR: {error}\n")
    except APIError as exc:
        error = (exc.explanation or str(exc)).strip()
        log(f"ERROR: {error}\n")
    if error:
        raise BuildFailed(f"image build failed: {error.splitlines()[-1][:300]}", hint="see the build log above")
    return client.images.get(build["tag"]).id
