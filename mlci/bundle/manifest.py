"""manifest.json of an edge bundle: what the bundle holds and how a device starts it.

The manifest is the last member of the archive (it lists the sha256 of every other member, which
are known only once they are written). It carries its own digest — sha256 of its canonical JSON
without that field — so an edited manifest is caught; that is an integrity check, not a signature:
whoever rewrites a bundle consistently can make it verify (sign the file for authenticity).

A bundle is read on a device as hostile input: the manifest is bounded, typed with extra keys
refused, and a schemaVersion newer than this mlci reads is refused with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from mlci.contract import JOB_ID_PATTERN, PROJECT_PATTERN
from mlci.errors import MlciError
from mlci.manifest.serve import HEALTH_PATH_RE, SERVE_MODEL_DIR
from mlci.publish.stores.base import content_digest
from mlci.record.parts import VERSION_PATTERN

SCHEMA_VERSION = 1  # what this mlci writes, and the newest it reads
KIND = "mlci-edge-bundle"
MANIFEST_FILE = "manifest.json"
START_FILE = "start.sh"
IMAGE_FILE = "image.tar"
MODEL_DIR = "model"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

SHA256_PATTERN = r"^[0-9a-f]{64}$"
IMAGE_ID_PATTERN = r"^sha256:[0-9a-f]{64}$"
# A path inside the bundle: relative, plain segments, no control characters (members.py checks `..`).
REL_PATH_PATTERN = r"^[^/\x00-\x1f\x7f][^\x00-\x1f\x7f]{0,4095}$"


class BundleError(MlciError):
    """A bundle that fails verification (exit 1); `problems` names each thing that is wrong."""

    def __init__(self, path: str, problems: list[str]):
        self.problems = problems
        shown = "\n  ".join(problems[:20])
        more = f"\n  (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(
            f"{path} is not a valid bundle:\n  {shown}{more}",
            hint="make it again with `mlci bundle PROJECT VERSION`, or copy it again if it was damaged in transit",
        )


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class BundleFile(_Model):
    path: str = Field(pattern=REL_PATH_PATTERN)  # relative to the bundle's top directory
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_PATTERN)


class BundleImage(_Model):
    id: str = Field(pattern=IMAGE_ID_PATTERN)  # the image id: sha256 of its config, as `docker save` writes it
    reference: str | None = Field(None, max_length=512)  # what the version index recorded (repo digest or id)
    tag: str = Field(max_length=256)  # the tag start.sh gives the loaded image
    file: Literal["image.tar"] = IMAGE_FILE


class BundleServe(_Model):
    """project.yaml's `serve:` at bundling time, as the device needs it."""

    command: str = Field(min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f\x7f]+$")
    port: int = Field(ge=1, le=65535)
    health: str = Field(pattern=HEALTH_PATH_RE.replace("\\Z", "$"))
    health_timeout_s: int = Field(ge=0)
    publish: int = Field(ge=1, le=65535)  # the device's host port (serve.publish, else serve.port)
    bind: Literal["127.0.0.1", "0.0.0.0", "::1", "::"]
    gpus: Literal["none", "all"] | int
    memory: int | None = Field(None, ge=1)
    cpus: float | None = Field(None, gt=0)
    restart: Literal["unless-stopped", "always", "on-failure", "no"]
    model_dir: Literal["/mlci/model"] = SERVE_MODEL_DIR


class BundleStart(_Model):
    script: Literal["start.sh"] = START_FILE
    steps: list[str]
    settings: dict[str, str]  # environment variables start.sh reads, and what they change


class BundleManifest(_Model):
    schema_version: int
    kind: Literal["mlci-edge-bundle"] = KIND
    project: str = Field(pattern=f"^{PROJECT_PATTERN}$")
    version: str = Field(pattern=VERSION_PATTERN)
    job_id: str = Field(pattern=f"^{JOB_ID_PATTERN}$")
    commit: str | None = Field(None, max_length=64)
    store: str = Field(max_length=128)
    published_at: str = Field(max_length=64)
    created_at: str = Field(max_length=64)
    mlci_version: str = Field(max_length=64)
    metrics: dict[str, float] = Field(default_factory=dict)
    content_digest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")  # the model files', as published
    image: BundleImage
    serve: BundleServe
    files: list[BundleFile]
    start: BundleStart
    digest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")  # this manifest's own (see the module doc)

    @property
    def top(self) -> str:
        """The bundle's top directory: every member lies below it."""
        return top_dir(self.project, self.version)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    def own_digest(self) -> str:
        data = self.to_json()
        data.pop("digest", None)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def sealed(self) -> BundleManifest:
        return self.model_copy(update={"digest": self.own_digest()})

    def dumps(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2) + "\n").encode()


def model_digest(files: list[BundleFile]) -> str:
    """The content digest of the model files among `files`, as the store computed it when publishing."""
    prefix = f"{MODEL_DIR}/"
    entries = [
        {"path": f.path[len(prefix) :], "size": f.size, "sha256": f.sha256} for f in files if f.path.startswith(prefix)
    ]
    return "sha256:" + content_digest(entries)


def top_dir(project: str, version: str) -> str:
    return f"{project}-{version}"


def parse_manifest(data: bytes) -> BundleManifest:
    """The manifest in `data`; MlciError naming what is wrong (not JSON, newer schema, a bad field)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise MlciError(f"{MANIFEST_FILE} is {len(data)} bytes, more than mlci writes")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MlciError(f"{MANIFEST_FILE} is not valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise MlciError(f"{MANIFEST_FILE} is not a JSON object")
    version = parsed.get("schemaVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MlciError(f"{MANIFEST_FILE} has no valid schemaVersion ({str(version)[:40]!r})")
    if version > SCHEMA_VERSION:
        raise MlciError(
            f"{MANIFEST_FILE} has schemaVersion {version}: the bundle was made by a newer mlci"
            f" (this one reads up to {SCHEMA_VERSION}) — upgrade mlci to verify or use it"
        )
    try:
        manifest = BundleManifest.model_validate(parsed)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "manifest"
        raise MlciError(f"{MANIFEST_FILE}: {field}: {first.get('msg')}") from None
    if manifest.digest is None or manifest.digest != manifest.own_digest():
        raise MlciError(
            f"{MANIFEST_FILE} was changed after the bundle was made (its digest {str(manifest.digest)[:19]}… does not"
            f" match its content {manifest.own_digest()[:19]}…)"
        )
    return manifest
