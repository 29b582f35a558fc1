"""`mlci bundle --verify FILE`: is this archive an intact edge bundle? Read once, as a stream
(gzip or plain tar), in bounded memory, without Docker — a device checks a bundle before it loads it.

Checked: every member is a regular file or directory with a safe relative name below the one top
directory `<project>-<version>/`, no name twice, no member below a file, at most MAX_MEMBERS members
and MAX_TOTAL_BYTES in all; the manifest (the last member) parses, is a schemaVersion this mlci
reads and was not edited; every file it lists is there with its size and sha256, and nothing else
is; the model files add up to the content digest the store recorded; image.tar is a valid
`docker save` archive of the image id the manifest names (image_archive.py).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from mlci.bundle.image_archive import ImageCheck, check_image_archive
from mlci.bundle.manifest import (
    IMAGE_FILE,
    MANIFEST_FILE,
    MAX_MANIFEST_BYTES,
    MODEL_DIR,
    START_FILE,
    BundleError,
    BundleManifest,
    model_digest,
    parse_manifest,
)
from mlci.bundle.members import GZIP_MAGIC, HashingReader, RecentBytes, name_problem, normalized, shown, type_problem
from mlci.errors import MlciError, UsageError

MAX_MEMBERS = 100_000 + 1_000  # mlci.boundary's file limit for outputs, their directories, and ours
MAX_TOTAL_BYTES = 1 << 40
MAX_START_BYTES = 1 << 20


@dataclass
class _Read:
    files: dict[str, tuple[int, str]] = field(default_factory=dict)  # path below top → (size, sha256)
    files_abs: set[str] = field(default_factory=set)  # full member names of the regular files
    dirs: set[str] = field(default_factory=set)
    implied: set[str] = field(default_factory=set)  # every member's parent directories
    names: set[str] = field(default_factory=set)
    tops: set[str] = field(default_factory=set)
    manifest: bytes | None = None
    image: ImageCheck | None = None
    members: int = 0
    total: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verified:
    path: Path
    manifest: BundleManifest
    members: int
    total_bytes: int
    layers: int


def verify_bundle(path: Path) -> Verified:
    """The bundle's manifest when every check passes; BundleError listing what is wrong otherwise."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; fstat first
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror})", hint="pass the path of a bundle file") from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise UsageError(f"{path} is not a regular file", hint="pass the path of a bundle file")
        read = _Read()
        try:
            _read(handle, read)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            read.problems.append(f"the archive is truncated or corrupt ({exc or type(exc).__name__})")
    manifest = _check(read)
    if read.problems or manifest is None:
        raise BundleError(str(path), read.problems)
    return Verified(path, manifest, read.members, read.total, read.image.layers if read.image else 0)


def _read(handle: BinaryIO, read: _Read) -> None:
    """Every member of the (gzip or plain) tar in `handle`, then its end."""
    gzipped = handle.read(2) == GZIP_MAGIC
    handle.seek(0)
    with contextlib.ExitStack() as stack:
        source: BinaryIO = stack.enter_context(gzip.GzipFile(fileobj=handle, mode="rb")) if gzipped else handle
        recent = RecentBytes(source)
        with tarfile.open(fileobj=recent, mode="r|") as tar:
            for member in tar:
                if not _member(tar, member, read):
                    return
            if why := recent.end_problem(tar.offset):
                read.problems.append(why)


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo, read: _Read) -> bool:
    """Check and read one member; False when reading on is pointless (too many, too large)."""
    read.members += 1
    if read.members > MAX_MEMBERS:
        read.problems.append(f"more than {MAX_MEMBERS} members: not a bundle mlci writes")
        return False
    name = normalized(member.name)
    why = name_problem(member.name) or type_problem(member)
    if why is None and name in read.names:
        why = "a duplicate name"
    if why is None and "/" not in name and not member.isdir():
        why = "a file outside the bundle's top directory"
    parents = ["/".join(name.split("/")[:i]) for i in range(1, name.count("/") + 1)]
    if why is None and any(parent in read.files_abs for parent in parents):
        why = "a member below a file"
    if why is None and not member.isdir() and name in read.implied:
        why = "a file where earlier members need a directory"
    if why is not None:
        read.problems.append(f"member {shown(member.name)}: {why}")
        return True
    read.names.add(name)
    read.implied.update(parents)
    top, _, rel = name.partition("/")
    read.tops.add(top)
    if member.isdir():
        if rel:
            read.dirs.add(rel)
        return True
    read.total += member.size
    if read.total > MAX_TOTAL_BYTES:
        read.problems.append(f"more than {MAX_TOTAL_BYTES} bytes in all: not a bundle mlci writes")
        return False
    read.files_abs.add(name)
    source = tar.extractfile(member)
    if source is None:
        return True
    reader = HashingReader(source)
    if rel == MANIFEST_FILE:
        if member.size > MAX_MANIFEST_BYTES:
            read.problems.append(f"{MANIFEST_FILE} is {member.size} bytes, more than mlci writes")
            return True
        read.manifest = reader.read(member.size + 1)
    elif rel == START_FILE and member.size > MAX_START_BYTES:
        read.problems.append(f"{START_FILE} is {member.size} bytes, more than mlci writes")
        return True
    elif rel == IMAGE_FILE:
        read.image = check_image_archive(reader, max_bytes=MAX_TOTAL_BYTES)
    reader.drain()
    if reader.size != member.size:
        raise tarfile.ReadError(f"member {shown(name)} ends after {reader.size} of {member.size} bytes")
    read.files[rel] = (reader.size, reader.hexdigest())
    return True


def _check(read: _Read) -> BundleManifest | None:
    if read.manifest is None:
        read.problems.append(f"{MANIFEST_FILE} is missing: the archive is truncated, or it is not an mlci bundle")
        return None
    try:
        manifest = parse_manifest(read.manifest)
    except MlciError as exc:
        read.problems.append(str(exc))
        return None
    problems = read.problems
    if read.tops - {manifest.top}:
        outside = ", ".join(shown(t) for t in sorted(read.tops - {manifest.top})[:3])
        problems.append(f"members outside the top directory {manifest.top!r}: {outside}")
    listed = {f.path: f for f in manifest.files}
    for rel in sorted({START_FILE, IMAGE_FILE} - listed.keys()):
        problems.append(f"the manifest does not list {rel}")
    for rel, entry in listed.items():
        if name_problem(rel) or not (rel in (START_FILE, IMAGE_FILE) or rel.startswith(f"{MODEL_DIR}/")):
            problems.append(f"the manifest lists {shown(rel)}, which is no part of a bundle")
        elif rel not in read.files:
            problems.append(f"{shown(rel)} is listed in the manifest but missing from the archive")
        elif read.files[rel][0] != entry.size:
            problems.append(f"{shown(rel)} is {read.files[rel][0]} bytes, the manifest says {entry.size}")
        elif read.files[rel][1] != entry.sha256:
            problems.append(
                f"{shown(rel)} was changed: its sha256 is {read.files[rel][1][:12]}…, the manifest says"
                f" {entry.sha256[:12]}…"
            )
    for rel in sorted(read.files.keys() - listed.keys() - {MANIFEST_FILE}):
        problems.append(f"{shown(rel)} is in the archive but not listed in the manifest")
    expected_dirs = {"/".join(p.split("/")[:i]) for p in listed for i in range(1, p.count("/") + 1)}
    for rel in sorted(read.dirs - expected_dirs):
        problems.append(f"directory {shown(rel)} is in the archive but holds nothing the manifest lists")
    _check_model(manifest, problems)
    _check_image(manifest, read.image, problems)
    return manifest


def _check_model(manifest: BundleManifest, problems: list[str]) -> None:
    if manifest.content_digest is None:
        return
    got = model_digest(manifest.files)
    if got != manifest.content_digest:
        problems.append(
            f"the model files are not the published version's (content {got[:19]}…, recorded"
            f" {manifest.content_digest[:19]}…)"
        )


def _check_image(manifest: BundleManifest, image: ImageCheck | None, problems: list[str]) -> None:
    if image is None:
        return  # reported as missing above
    problems.extend(image.problems)
    if image.config_digest is not None and image.config_digest != manifest.image.id:
        problems.append(
            f"{IMAGE_FILE} holds image {image.config_digest[:19]}…, the manifest names {manifest.image.id[:19]}…"
        )


def describe(verified: Verified) -> str:
    m = verified.manifest
    model_files = sum(1 for f in m.files if f.path.startswith(f"{MODEL_DIR}/"))
    return (
        f"{m.project} {m.version} (job {m.job_id}, commit {(m.commit or '-')[:12]}): image {m.image.id[:19]}…"
        f" ({verified.layers} layers), {model_files} model files, {verified.members} members,"
        f" {verified.total_bytes} bytes"
    )
