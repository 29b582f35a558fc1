"""What a member of a bundle (or of the image archive inside it) may be, and streams that hash what
passes through them.

A bundle arrives on a device from elsewhere, so its tar headers are hostile input: a name may be
absolute, climb out with `..`, carry a newline or a terminal escape, repeat an earlier member, or
sit below a member that is a file; a member may be a link, a device or a FIFO, or claim a size
that would fill the disk. Each rule here names the member and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import BinaryIO

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"


def shown(name: str) -> str:
    """A member name fit for a message: control characters escaped, long names cut."""
    text = name.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return repr(text[:200] + ("…" if len(text) > 200 else ""))


def name_problem(name: str) -> str | None:
    """Why `name` is not a safe relative member path, or None."""
    if not name:
        return "an empty name"
    if name.startswith("/"):
        return "an absolute path"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "a name that is not UTF-8"
    if "\\" in name or any(not c.isprintable() for c in name):
        return "a name with control characters or backslashes"
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "a path with empty, '.' or '..' segments"
    if len(name) > 4096 or any(len(part) > 255 for part in parts):
        return "a name longer than a file system allows"
    return None


def type_problem(member: tarfile.TarInfo) -> str | None:
    """Why `member` is not a regular file or directory, or None."""
    if member.isreg() and not member.issparse():
        return None
    if member.isdir():
        return None
    if member.issym():
        return f"a symbolic link to {shown(member.linkname)}"
    if member.islnk():
        return f"a hard link to {shown(member.linkname)}"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    if member.issparse():
        return "a sparse file"
    return f"an entry of tar type {member.type!r}"


def normalized(name: str) -> str:
    return name.rstrip("/")


class HashingReader:
    """Reads from `source`, hashing and counting every byte that passes; `sink`, when set, gets a
    copy of each chunk (the writer spools `docker save` to disk this way while checking it)."""

    def __init__(
        self,
        source: BinaryIO | ChunkReader,
        sink: BinaryIO | None = None,
        *,
        limit: int | None = None,
        progress: Callable[[int], None] | None = None,
    ):
        self.source = source
        self.sink = sink
        self.limit = limit
        self.progress = progress
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n if n is not None and n >= 0 else CHUNK)
        if data:
            self.size += len(data)
            if self.limit is not None and self.size > self.limit:
                raise OverLimit(self.limit)
            self.sha256.update(data)
            if self.sink is not None:
                self.sink.write(data)
            if self.progress is not None:
                self.progress(self.size)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


class ChunkReader:
    """A file-like read() over an iterator of byte chunks (docker-py's streamed `docker save`); a
    read returns at most one chunk's rest, as a raw file may."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._chunk = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        size = n if n is not None and n >= 0 else CHUNK
        while self._pos >= len(self._chunk):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._chunk, self._pos = chunk, 0
        data = self._chunk[self._pos : self._pos + size]
        self._pos += len(data)
        return data


class RecentBytes:
    """Passes reads through and remembers the last KEEP bytes with their offsets, so the end of a
    tar can be checked after tarfile has read past it: the bytes after the last member must be
    zeros, at least two blocks of them (a plain tar cut short in its padding, or with data appended,
    otherwise reads as complete)."""

    KEEP = 64 * 1024

    def __init__(self, source: BinaryIO):
        self.source = source
        self.pos = 0
        self._chunks: deque[tuple[int, bytes]] = deque()
        self._kept = 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n if n is not None and n >= 0 else CHUNK)
        if data:
            self._chunks.append((self.pos, data))
            self._kept += len(data)
            self.pos += len(data)
            while self._kept - len(self._chunks[0][1]) >= self.KEEP:
                self._kept -= len(self._chunks.popleft()[1])
        return data

    def end_problem(self, offset: int) -> str | None:
        """What is wrong with the bytes from `offset` (the end of the last member) to the end."""
        if not self._chunks or offset < self._chunks[0][0]:
            return "its end could not be checked"
        trailing = b"".join(
            data[max(offset - start, 0) :] for start, data in self._chunks if start + len(data) > offset
        )
        size, clean = len(trailing), not trailing.strip(b"\0")
        while chunk := self.read(CHUNK):
            size += len(chunk)
            clean = clean and not chunk.strip(b"\0")
        if not clean:
            return "data follows the end of the archive"
        if size < 2 * tarfile.BLOCKSIZE:
            return "the archive is truncated (its end-of-archive marker is missing)"
        return None


class OverLimit(Exception):
    def __init__(self, limit: int):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class LayerDigest:
    """sha256 of a layer as stored and, when it is gzip-compressed, of its uncompressed content
    (a config's rootfs.diff_ids name the uncompressed tars)."""

    def __init__(self, limit: int):
        self.raw = hashlib.sha256()
        self.plain: hashlib._Hash | None = None
        self._inflate: zlib._Decompress | None = None
        self._first = True
        self._limit = limit
        self._inflated = 0
        self.broken = False

    def update(self, data: bytes) -> None:
        self.raw.update(data)
        if self._first and data:
            self._first = False
            if data[:2] == GZIP_MAGIC:
                self.plain, self._inflate = hashlib.sha256(), zlib.decompressobj(wbits=31)
        if self._inflate is not None and self.plain is not None and not self.broken:
            try:
                while data:
                    out = self._inflate.decompress(data, CHUNK)
                    self._inflated += len(out)
                    if self._inflated > self._limit:
                        raise zlib.error("inflates beyond the size limit")
                    self.plain.update(out)
                    data = self._inflate.unconsumed_tail
            except zlib.error:
                self.broken = True

    def digests(self) -> set[str]:
        found = {"sha256:" + self.raw.hexdigest()}
        if self.plain is not None and not self.broken:
            found.add("sha256:" + self.plain.hexdigest())
        return found
