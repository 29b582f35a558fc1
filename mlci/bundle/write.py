"""Writing an edge bundle: one tar (gzip unless the name ends in plain `.tar`) holding
`<project>-<version>/` with start.sh, model/…, image.tar and — last — manifest.json.

`docker save` is streamed from the engine (never held in memory) into a temporary file beside the
output while it is hashed and checked as a `docker save` archive of the expected image id (a tar
member needs its size before its data, so the image is spooled once). The archive is then written to
a second temporary file — every member hashed as it is written, the model files checked against the
content digest the store recorded — fsynced and renamed over the output. Whatever goes wrong,
Ctrl-C included, both temporary files are removed: there is never a half-written bundle.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mlci import __version__
from mlci.boundary import OutputFile, human_bytes, open_regular
from mlci.bundle import start_script
from mlci.bundle.image_archive import check_image_archive
from mlci.bundle.manifest import (
    IMAGE_FILE,
    MANIFEST_FILE,
    MODEL_DIR,
    SCHEMA_VERSION,
    START_FILE,
    BundleFile,
    BundleImage,
    BundleManifest,
    BundleServe,
    BundleStart,
    model_digest,
    top_dir,
)
from mlci.bundle.members import CHUNK, ChunkReader, HashingReader
from mlci.bundle.source import BundleSource, SourceImage
from mlci.bundle.verify import MAX_TOTAL_BYTES
from mlci.errors import MlciError, UsageError
from mlci.progress import Phases

if TYPE_CHECKING:
    import docker

GZIP_LEVEL = 6  # most of gzip's gain on image layers at a fraction of level 9's time
_GZIP_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True)
class Written:
    path: Path
    manifest: BundleManifest
    size: int


def output_path(out: str | None, project: str, version: str) -> tuple[Path, bool]:
    """Where to write and whether to gzip: `.tar.gz`/`.tgz` → gzip, `.tar` → plain."""
    path = Path(out) if out else Path(f"{top_dir(project, version)}.tar.gz")
    name = path.name.lower()
    if not (name.endswith(_GZIP_SUFFIXES) or name.endswith(".tar")):
        raise UsageError(
            f"--out {path.name!r}: a bundle is a tar archive",
            hint="name it .tar.gz (gzip, smaller) or .tar (no compression, faster for images of compressed weights)",
        )
    if path.is_dir():
        raise UsageError(f"--out {path} is a directory", hint="name the bundle file, e.g. --out dir/model.tar.gz")
    if not path.parent.is_dir():
        raise UsageError(f"--out {path}: directory {path.parent} does not exist", hint="create it first")
    return path, name.endswith(_GZIP_SUFFIXES)


def _draft(source: BundleSource, image: SourceImage, created: datetime) -> BundleManifest:
    entry, serve = source.entry, source.serve
    top = top_dir(entry.project, entry.version)
    return BundleManifest(
        schema_version=SCHEMA_VERSION,
        project=entry.project,
        version=entry.version,
        job_id=entry.job_id,
        commit=entry.commit,
        store=source.store,
        published_at=entry.published_at,
        created_at=created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        mlci_version=__version__,
        metrics=dict(entry.metrics),
        content_digest=entry.digest,
        image=BundleImage(id=image.id, reference=image.reference, tag=f"mlci-bundle/{entry.project}:{entry.version}"),
        serve=BundleServe(
            command=serve.command,
            port=serve.port,
            health=serve.health,
            health_timeout_s=int(serve.health_timeout),
            publish=serve.publish or serve.port,
            bind=serve.bind,
            gpus=serve.gpus,
            memory=serve.memory,
            cpus=serve.cpus,
            restart=serve.restart,
        ),
        files=[],
        start=BundleStart(
            steps=["tar -xf <the bundle file>", f"cd {top}", f"./{START_FILE}"],
            settings=dict(start_script.SETTINGS),
        ),
    )


def write_bundle(
    client: docker.DockerClient,
    source: BundleSource,
    image: SourceImage,
    out: Path,
    *,
    compress: bool,
    phases: Phases,
) -> Written:
    created = datetime.now(UTC).replace(microsecond=0)
    draft = _draft(source, image, created)
    try:
        spool_fd, spool = tempfile.mkstemp(prefix=f".{out.name}.image-", suffix=".partial", dir=out.parent)
    except OSError as exc:
        raise UsageError(
            f"cannot write in {out.parent} ({exc.strerror})", hint="pass --out in a directory you may write to"
        ) from None
    try:
        archive_fd, archive = tempfile.mkstemp(prefix=f".{out.name}.archive-", suffix=".partial", dir=out.parent)
    except BaseException:
        os.close(spool_fd)
        Path(spool).unlink(missing_ok=True)
        raise
    try:
        with os.fdopen(spool_fd, "w+b") as spooled:
            image_file = _spool_image(client, image, spooled, draft, phases)
            with os.fdopen(archive_fd, "wb") as raw:
                manifest = _write_archive(raw, compress, draft, source, spooled, image_file, created, phases)
                raw.flush()
                os.fsync(raw.fileno())
        os.chmod(archive, 0o644)
        os.replace(archive, out)
    except BaseException:
        Path(archive).unlink(missing_ok=True)
        raise
    finally:
        Path(spool).unlink(missing_ok=True)
    return Written(out, manifest, out.stat().st_size)


def _spool_image(
    client: docker.DockerClient, image: SourceImage, spooled: BinaryIO, draft: BundleManifest, phases: Phases
) -> BundleFile:
    what = f"{draft.project} {draft.version}"
    about = f" of ~{human_bytes(image.size)}" if image.size else ""
    with phases.phase(f"{what}: docker save {image.id[7:19]}") as phase:
        chunks: Iterator[bytes] = client.api.get_image(image.id, chunk_size=CHUNK)
        try:
            reader = HashingReader(
                ChunkReader(chunks),
                spooled,
                limit=MAX_TOTAL_BYTES,
                progress=lambda n: phase.count(f"{human_bytes(n)}{about}"),
            )
            check = check_image_archive(reader, max_bytes=MAX_TOTAL_BYTES)
            reader.drain()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        phase.count(human_bytes(reader.size))
    if check.problems or check.config_digest != image.id:
        problems = "; ".join(check.problems[:3]) or f"it holds image {check.config_digest}"
        raise MlciError(
            f"docker save of {image.id[:19]}… gave an archive mlci cannot verify ({problems}); nothing was written",
            hint="check the engine (`mlci doctor`) and try again",
        )
    spooled.flush()
    return BundleFile(path=IMAGE_FILE, size=reader.size, sha256=reader.hexdigest())


def _info(name: str, *, size: int = 0, mode: int = 0o644, mtime: int, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.size, info.mode, info.mtime = (0 if directory else size), mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _model_dirs(files: list[OutputFile]) -> list[str]:
    dirs = {MODEL_DIR}
    for item in files:
        parts = item.rel.split("/")[:-1]
        dirs.update(f"{MODEL_DIR}/{'/'.join(parts[:i])}" for i in range(1, len(parts) + 1))
    return sorted(dirs)


def _write_archive(
    raw: BinaryIO,
    compress: bool,
    draft: BundleManifest,
    source: BundleSource,
    spooled: BinaryIO,
    image_file: BundleFile,
    created: datetime,
    phases: Phases,
) -> BundleManifest:
    top, mtime = draft.top, int(created.timestamp())
    total = image_file.size + sum(f.size for f in source.model_files)
    title = f"{draft.project} {draft.version}: write {'gzip ' if compress else ''}archive"
    with contextlib.ExitStack() as stack:
        sink: BinaryIO = raw
        if compress:  # no file name or time of ours in the gzip header
            sink = stack.enter_context(
                gzip.GzipFile(filename="", mode="wb", compresslevel=GZIP_LEVEL, fileobj=raw, mtime=mtime)
            )
        phase = stack.enter_context(phases.phase(title))
        tar = stack.enter_context(tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT))
        done = 0

        def count(n: int) -> None:
            phase.count(f"{human_bytes(done + n)} of {human_bytes(total)}")

        for rel in ["", *_model_dirs(source.model_files)]:
            tar.addfile(_info(f"{top}/{rel}".rstrip("/"), mode=0o755, mtime=mtime, directory=True))
        script = start_script.render(draft).encode()
        tar.addfile(_info(f"{top}/{START_FILE}", size=len(script), mode=0o755, mtime=mtime), io.BytesIO(script))
        files = [BundleFile(path=START_FILE, size=len(script), sha256=hashlib.sha256(script).hexdigest())]
        for item in source.model_files:
            files.append(_add_model_file(tar, top, item, mtime, count))
            done += item.size
        _check_model(draft, files)
        spooled.seek(0)
        reader = HashingReader(spooled, progress=count)
        tar.addfile(_info(f"{top}/{IMAGE_FILE}", size=image_file.size, mtime=mtime), reader)
        if reader.hexdigest() != image_file.sha256:
            raise MlciError(
                f"the spooled {IMAGE_FILE} changed on disk while the bundle was written; nothing was written"
            )
        files.append(image_file)
        manifest = draft.model_copy(update={"files": files}).sealed()
        data = manifest.dumps()
        tar.addfile(_info(f"{top}/{MANIFEST_FILE}", size=len(data), mtime=mtime), io.BytesIO(data))
    return manifest


def _add_model_file(
    tar: tarfile.TarFile, top: str, item: OutputFile, mtime: int, count: Callable[[int], None]
) -> BundleFile:
    mode = 0o755 if item.mode & 0o111 else 0o644
    with os.fdopen(open_regular(item.path, item.rel), "rb") as handle:
        reader = HashingReader(handle, progress=count)
        tar.addfile(_info(f"{top}/{MODEL_DIR}/{item.rel}", size=item.size, mode=mode, mtime=mtime), reader)
    return BundleFile(path=f"{MODEL_DIR}/{item.rel}", size=item.size, sha256=reader.hexdigest())


def _check_model(draft: BundleManifest, files: list[BundleFile]) -> None:
    got = model_digest(files)
    if draft.content_digest is not None and got != draft.content_digest:
        raise MlciError(
            f"{draft.project} {draft.version}: the store's model files are not what was published (content"
            f" {got[:19]}…, index {draft.content_digest[:19]}…); nothing was written",
            hint="the store was changed after publishing: restore it, or publish again as a new version",
        )
