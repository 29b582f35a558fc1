"""Push a run's image to `build.registry` and pull images back by digest, so any run can be
reproduced from exactly the image it trained in (`mlci run --image REPO@sha256:...`).

Registry credentials are the Docker engine's own (`docker login` on the host, or Jenkins'
registry credentials), never arguments: the Docker SDK reads them from the Docker config.
"""

from __future__ import annotations

import re
from typing import Any

from mlci import secrets
from mlci.errors import MlciError, UsageError
from mlci.publish.stores.retry import with_retry
from mlci.record.store import RunRecord

# docker-py (with requests, ~0.3 s) is imported in the functions that talk to the engine, so that
# commands which never do (`mlci --help`, validate, status) do not pay for it; tests/test_layout.py checks.

_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_TRANSIENT_PUSH = re.compile(r"connection refused|connection reset|timeout|i/o timeout|503|502|504|EOF", re.I)


class PushError(MlciError):
    def __init__(self, message: str, *, transient: bool):
        super().__init__(message, hint="check `docker login` for the registry and that it is reachable")
        self.transient = transient


def repository_for(registry: str, project: str) -> str:
    return f"{registry.rstrip('/')}/{project}"


def tag_for(job_id: str) -> str:
    """Docker tags allow [A-Za-z0-9_.-], at most 128 characters, not starting with . or -."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", job_id)[:128]
    return tag if tag[:1] not in (".", "-", "") else f"job{tag}"[:128]


def push_image(client: Any, record: RunRecord, registry: str) -> str:
    """Push `record`'s image to `<registry>/<project>:<job-id>` and record where it went.

    `client` is a `docker.DockerClient`; the image is the record's build.imageId (or imageUri).
    Transient registry errors are retried with backoff; any other failure raises MlciError.
    On success the record's build gains `digest` ("sha256:...") and `repoDigest`
    ("<registry>/<project>@sha256:...", what `resolve_image` pulls), and is saved.
    Returns the repo digest reference.
    """
    import docker.errors

    build = record.state.build
    source = build.image_id or build.image_uri
    if not source:
        raise MlciError(f"run {record.job_id} of {record.project} has no image to push (build.imageId is empty)")
    try:
        image = client.images.get(source)
    except docker.errors.ImageNotFound:
        raise MlciError(
            f"image {source} of run {record.job_id} is no longer on this host",
            hint=f"rebuild it with `mlci run {record.project}`",
        ) from None
    repository, tag = repository_for(registry, record.project), tag_for(record.job_id)
    image.tag(repository, tag)
    digest = with_retry(
        lambda: _push(client, repository, tag),
        what=f"push {repository}:{tag}",
        transient=lambda exc: isinstance(exc, PushError) and exc.transient,
    )
    reference = f"{repository}@{digest}"
    build.pushed(digest, reference)
    record.save()
    return reference


def _push(client: Any, repository: str, tag: str) -> str:
    import docker.errors

    digest = None
    try:
        for event in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event or "errorDetail" in event:
                message = event.get("error") or event["errorDetail"].get("message", "")
                raise PushError(
                    secrets.redact(f"push of {repository}:{tag} failed: {message}"),
                    transient=bool(_TRANSIENT_PUSH.search(message)),
                )
            aux = event.get("aux") or {}
            if aux.get("Digest"):
                digest = aux["Digest"]
    except docker.errors.APIError as exc:
        raise PushError(
            secrets.redact(f"push of {repository}:{tag} failed: {exc.explanation or exc}"), transient=False
        ) from None
    if not digest or not _DIGEST_RE.fullmatch(digest):
        raise PushError(f"push of {repository}:{tag} reported no digest", transient=False)
    return digest


def resolve_image(client: Any, ref: str) -> Any:
    """The local image for `ref`, pulling it first when it is a registry digest not present here.

    `ref` is one of: `<repo>@sha256:<64 hex>` (pulled if missing, then checked to carry that
    digest), a local image id `sha256:<64 hex>`, or a local tag. Returns a `docker.models.images.Image`;
    raises UsageError for a malformed or unknown reference and MlciError when the pull fails.
    """
    import docker.errors

    if "@" in ref:
        repository, _, digest = ref.partition("@")
        if not _DIGEST_RE.fullmatch(digest) or not repository:
            raise UsageError(f"'{ref}' is not an image digest reference", hint="use REPOSITORY@sha256:<64 hex digits>")
        try:
            image = client.images.get(ref)
        except docker.errors.ImageNotFound:
            image = _pull(client, ref)
        if ref not in (image.attrs.get("RepoDigests") or []):
            raise MlciError(f"image pulled for {ref} does not carry that digest")
        return image
    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        hint = "pass REPOSITORY@sha256:... to pull it from the registry" if _DIGEST_RE.fullmatch(ref) else None
        raise UsageError(f"no image {ref} on this host", hint=hint) from None


def _pull(client: Any, ref: str) -> Any:
    import docker.errors

    def pull() -> Any:
        try:
            return client.images.pull(ref)
        except docker.errors.NotFound:
            raise UsageError(f"the registry has no image {ref}", hint="check the digest in the run record") from None
        except docker.errors.APIError as exc:
            message = secrets.redact(str(exc.explanation or exc))
            raise PushError(
                f"pull of {ref} failed: {message}", transient=bool(_TRANSIENT_PUSH.search(message))
            ) from None

    return with_retry(pull, what=f"pull {ref}", transient=lambda exc: isinstance(exc, PushError) and exc.transient)
