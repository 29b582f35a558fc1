"""Checking a `docker save` archive while it streams past, without Docker.

A valid archive holds `manifest.json` (Docker's: a list with one image whose `Config` and `Layers`
name members), the config — whose sha256 is the image id — and every layer, each matching its
`rootfs.diff_ids` entry in the config (the sha256 of the uncompressed layer tar). Both layouts are
read: the legacy one (`<id>.json`, `<layer>/layer.tar`) of Docker ≤ 24 and the OCI one
(`blobs/sha256/<hex>`, each also checked against its name) of newer engines.

`docker save` itself writes relative symbolic links when two layers are the same, so links are
allowed here — inside the image archive only, and only to another member of it; they are resolved
by name, never on a file system. Everything else follows the bundle's member rules.
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from mlci.bundle.members import CHUNK, LayerDigest, name_problem, normalized, shown, type_problem

MAX_IMAGE_MEMBERS = 20_000
MAX_KEPT_BYTES = 4 << 20  # members this small are kept in memory: Docker's manifest.json, the configs
MAX_KEPT_TOTAL = 64 << 20
_MAX_HOPS = 16
_BLOB = re.compile(r"blobs/sha256/([0-9a-f]{64})")
_WHERE = "image.tar"


@dataclass
class ImageCheck:
    config_digest: str | None = None  # "sha256:<hex>": the image id
    layers: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class _Seen:
    digests: dict[str, set[str]] = field(default_factory=dict)  # regular member → its digest(s)
    raw: dict[str, str] = field(default_factory=dict)  # regular member → sha256 as stored
    kept: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # link member → the member it names
    names: set[str] = field(default_factory=set)
    kept_total: int = 0


def check_image_archive(stream: BinaryIO, *, max_bytes: int) -> ImageCheck:
    """Read `stream` (a tar) to its end of archive; the image id it holds and what is wrong with it."""
    check, seen = ImageCheck(), _Seen()
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar, 1):
                if count > MAX_IMAGE_MEMBERS:
                    check.problems.append(f"{_WHERE}: more than {MAX_IMAGE_MEMBERS} members")
                    return check
                _member(tar, member, seen, check, max_bytes)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        check.problems.append(f"{_WHERE} is not a readable tar archive ({exc})")
        return check
    _image(seen, check)
    return check


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo, seen: _Seen, check: ImageCheck, max_bytes: int) -> None:
    name = normalized(member.name)
    why = name_problem(member.name)
    if why is None and name in seen.names:
        why = "a duplicate name"
    if why is not None:
        check.problems.append(f"{_WHERE}: member {shown(member.name)}: {why}")
        return
    seen.names.add(name)
    if member.isdir():
        return
    if member.issym() or member.islnk():
        base = posixpath.dirname(name) if member.issym() else ""
        target = posixpath.normpath(posixpath.join(base, member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            check.problems.append(f"{_WHERE}: member {shown(name)}: a link out of the archive")
        else:
            seen.links[name] = target
        return
    why = type_problem(member)
    if why is not None:
        check.problems.append(f"{_WHERE}: member {shown(name)}: {why}")
        return
    if member.size > max_bytes:
        check.problems.append(f"{_WHERE}: member {shown(name)}: {member.size} bytes, over the limit")
        return
    digest = LayerDigest(max_bytes)
    keep = member.size <= MAX_KEPT_BYTES and seen.kept_total + member.size <= MAX_KEPT_TOTAL
    data, read = bytearray(), 0
    source = tar.extractfile(member)
    if source is None:  # not for a regular member; type_problem let only those through
        return
    while chunk := source.read(CHUNK):
        read += len(chunk)
        digest.update(chunk)
        if keep:
            data += chunk
    if read != member.size:
        raise tarfile.ReadError(f"member {shown(name)} ends after {read} of {member.size} bytes")
    seen.digests[name] = digest.digests()
    seen.raw[name] = "sha256:" + digest.raw.hexdigest()
    if keep:
        seen.kept[name] = bytes(data)
        seen.kept_total += len(data)


def _resolve(seen: _Seen, name: str) -> str | None:
    for _ in range(_MAX_HOPS):
        if name in seen.raw:
            return name
        if name not in seen.links:
            return None
        name = seen.links[name]
    return None


def _json(seen: _Seen, name: str, what: str, check: ImageCheck) -> Any:
    resolved = _resolve(seen, name)
    if resolved is None:
        check.problems.append(f"{_WHERE}: {what} {shown(name)} is missing")
        return None
    if resolved not in seen.kept:
        check.problems.append(f"{_WHERE}: {what} {shown(name)} is larger than an image's metadata may be")
        return None
    try:
        return json.loads(seen.kept[resolved].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        check.problems.append(f"{_WHERE}: {what} {shown(name)} is not valid JSON ({exc})")
        return None


def _image(seen: _Seen, check: ImageCheck) -> None:
    for name, raw in seen.raw.items():
        blob = _BLOB.fullmatch(name)
        if blob and raw != f"sha256:{blob.group(1)}":
            check.problems.append(f"{_WHERE}: blob {shown(name)} does not match its name (content {raw[:19]}…)")
    for name in seen.links:
        if _resolve(seen, name) is None:
            check.problems.append(f"{_WHERE}: link {shown(name)} names no file in the archive")
    manifest = _json(seen, "manifest.json", "Docker's", check)
    if manifest is None:
        return
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        check.problems.append(f"{_WHERE}: manifest.json must list exactly one image")
        return
    config_name, layers = manifest[0].get("Config"), manifest[0].get("Layers")
    if not isinstance(config_name, str) or not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        check.problems.append(f"{_WHERE}: manifest.json has no Config and Layers")
        return
    config = _json(seen, config_name, "the image config", check)
    resolved = _resolve(seen, config_name)
    if resolved is not None:
        check.config_digest = seen.raw[resolved]
    diff_ids = ((config or {}).get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
    if config is not None and (not isinstance(diff_ids, list) or len(diff_ids) != len(layers)):
        check.problems.append(f"{_WHERE}: the config lists other layers than manifest.json ({len(layers)})")
        return
    check.layers = len(layers)
    for index, layer in enumerate(layers):
        found = _resolve(seen, layer)
        if found is None:
            check.problems.append(f"{_WHERE}: layer {shown(layer)} is missing")
        elif diff_ids is not None and diff_ids[index] not in seen.digests[found]:
            check.problems.append(
                f"{_WHERE}: layer {shown(layer)} is not the layer the config names ({str(diff_ids[index])[:19]}…)"
            )
