"""Bundles crafted with tarfile, member by member, independently of mlci's writer: a valid one in
the documented layout (a tiny but real `docker save` archive inside), and the means to break it
in every way a hostile or damaged archive could be broken."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlci.bundle import start_script
from mlci.bundle.manifest import (
    SCHEMA_VERSION,
    BundleFile,
    BundleImage,
    BundleManifest,
    BundleServe,
    BundleStart,
    model_digest,
)

PROJECT, VERSION = "digits", "v3"
TOP = f"{PROJECT}-{VERSION}"
MODEL = {"model.joblib": b"\x80\x04model-bytes" * 100, "metrics.json": b'{"accuracy": 0.97}\n', "sub/extra.txt": b"x\n"}


@dataclass
class Entry:
    name: str
    data: bytes = b""
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    mode: int = 0o644
    size: int | None = None  # a header size other than len(data): a lying header


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_bytes(entries: list[Entry], *, gz: bool = False) -> bytes:
    buffer = io.BytesIO()
    sink = gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) if gz else buffer
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type, info.linkname, info.mode, info.mtime = entry.type, entry.linkname, entry.mode, 1_700_000_000
            info.size = len(entry.data) if entry.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
            tar.addfile(info, io.BytesIO(entry.data) if info.size else None)
    if gz:
        sink.close()
    return buffer.getvalue()


def layer(files: dict[str, bytes]) -> bytes:
    return tar_bytes([Entry(name, data) for name, data in files.items()])


@dataclass
class FakeImage:
    """A `docker save` archive in the legacy layout (Docker ≤ 24), member by member."""

    entries: list[Entry]
    id: str

    def tar(self) -> bytes:
        return tar_bytes(self.entries)


def fake_image(layers: list[bytes] | None = None, *, same_layer_linked: bool = False) -> FakeImage:
    layers = layers or [layer({"app/serve.py": b"print('serving')\n"}), layer({"etc/os": b"debian\n"})]
    diff_ids = [f"sha256:{sha256(tar)}" for tar in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    config_hex = sha256(config.encode())
    entries, names = [], []
    for index, tar in enumerate(layers):
        directory = f"{index:064x}"
        names.append(f"{directory}/layer.tar")
        entries.append(Entry(f"{directory}/", type=tarfile.DIRTYPE, mode=0o755))
        entries.append(Entry(f"{directory}/VERSION", b"1.0"))
        if same_layer_linked and index > 0 and tar == layers[0]:  # what docker save does for a repeated layer
            entries.append(Entry(f"{directory}/layer.tar", type=tarfile.SYMTYPE, linkname=f"../{0:064x}/layer.tar"))
        else:
            entries.append(Entry(f"{directory}/layer.tar", tar))
    entries.append(Entry(f"{config_hex}.json", config.encode()))
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": None, "Layers": names}]
    entries.append(Entry("manifest.json", json.dumps(manifest).encode()))
    return FakeImage(entries, f"sha256:{config_hex}")


def manifest_for(files: list[BundleFile], image_id: str, **changes) -> BundleManifest:
    draft = BundleManifest(
        schema_version=SCHEMA_VERSION,
        project=PROJECT,
        version=VERSION,
        job_id="20261123-abc123",
        commit="0123456789abcdef0123456789abcdef01234567",
        store="local",
        published_at="2026-11-23T10:00:00.000Z",
        created_at="2026-11-23T11:00:00Z",
        mlci_version="0.1.0",
        metrics={"accuracy": 0.97},
        content_digest=model_digest(files),
        image=BundleImage(id=image_id, reference=image_id, tag=f"mlci-bundle/{PROJECT}:{VERSION}"),
        serve=BundleServe(
            command="python src/serve.py",
            port=8080,
            health="/health",
            health_timeout_s=60,
            publish=8080,
            bind="127.0.0.1",
            gpus="none",
            restart="unless-stopped",
        ),
        files=files,
        start=BundleStart(steps=["tar -xf FILE", f"cd {TOP}", "./start.sh"], settings=dict(start_script.SETTINGS)),
    )
    return draft.model_copy(update=changes)


@dataclass
class Bundle:
    """The members of a bundle, manifest last; `write` lays them out as a tar (gzip by default)."""

    members: list[Entry]
    manifest: BundleManifest
    image: FakeImage
    extra: list[Entry] = field(default_factory=list)

    def member(self, rel: str) -> Entry:
        return next(m for m in self.members if m.name == f"{TOP}/{rel}")

    def replace_data(self, rel: str, data: bytes) -> Bundle:
        members = [replace(m, data=data) if m.name == f"{TOP}/{rel}" else m for m in self.members]
        return replace(self, members=members)

    def with_manifest(self, manifest: BundleManifest, *, seal: bool = True) -> Bundle:
        return replace(self, manifest=manifest.sealed() if seal else manifest)

    def entries(self) -> list[Entry]:
        return [*self.members, *self.extra, Entry(f"{TOP}/manifest.json", self.manifest.dumps())]

    def write(self, path: Path, *, gz: bool = True) -> Path:
        path.write_bytes(tar_bytes(self.entries(), gz=gz))
        return path


def good_bundle(image: FakeImage | None = None) -> Bundle:
    image = image or fake_image()
    image_tar = image.tar()
    model = [(f"model/{rel}", data) for rel, data in sorted(MODEL.items())]
    files = [BundleFile(path=rel, size=len(data), sha256=sha256(data)) for rel, data in model]
    draft = manifest_for(files, image.id)
    script = start_script.render(draft).encode()
    files = [
        BundleFile(path="start.sh", size=len(script), sha256=sha256(script)),
        *files,
        BundleFile(path="image.tar", size=len(image_tar), sha256=sha256(image_tar)),
    ]
    members = [
        Entry(f"{TOP}/", type=tarfile.DIRTYPE, mode=0o755),
        Entry(f"{TOP}/model/", type=tarfile.DIRTYPE, mode=0o755),
        Entry(f"{TOP}/model/sub/", type=tarfile.DIRTYPE, mode=0o755),
        Entry(f"{TOP}/start.sh", script, mode=0o755),
        *(Entry(f"{TOP}/{rel}", data) for rel, data in model),
        Entry(f"{TOP}/image.tar", image_tar),
    ]
    return Bundle(members, draft.model_copy(update={"files": files}).sealed(), image)


def rebuilt(bundle: Bundle, image: FakeImage) -> Bundle:
    """`bundle` with another image.tar, the manifest updated to match its bytes (not its id)."""
    data = image.tar()
    files = [
        BundleFile(path=f.path, size=len(data), sha256=sha256(data)) if f.path == "image.tar" else f
        for f in bundle.manifest.files
    ]
    return replace(bundle.replace_data("image.tar", data), image=image).with_manifest(
        bundle.manifest.model_copy(update={"files": files})
    )
