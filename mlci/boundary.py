"""One policy for everything that crosses the container boundary.

A stage runs other people's code, so what it leaves in `/mlci/out` is hostile input: it can hold
symbolic links to host files (`ln -s /etc/shadow`), FIFOs that block a reader, link loops, sparse
files that read back as gigabytes of zeros, or a million tiny files. Everything mlci copies,
uploads or archives from an output tree, and every input it bind-mounts into a container, passes
through here:

- only regular files and directories cross; a symbolic link is never followed (wherever it points),
  and links, FIFOs, sockets and devices are reported by path, so nothing is silently left out;
- sparse files are refused (their apparent size is not what the stage wrote);
- the total size and the number of files are bounded, and checked before anything is copied;
- files are opened with O_NOFOLLOW and re-checked with fstat, so a file swapped for a link after
  the scan is refused too.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlci.errors import MlciError, UsageError

DEFAULT_MAX_BYTES = 20 << 30  # runner.max_output_size in mlci.yaml overrides it
DEFAULT_MAX_FILES = 100_000
SPARSE_MIN_BYTES = 1 << 20  # smaller files may legitimately end in a short hole
_SHOWN = 10
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class OutputFile:
    rel: str  # POSIX path relative to the tree's root
    path: Path
    size: int
    mode: int


@dataclass(frozen=True)
class Refusal:
    rel: str
    why: str

    def __str__(self) -> str:
        return f"{self.rel}: {self.why}"


class BoundaryError(MlciError):
    """An output tree (or an input) that mlci will not let cross the container boundary."""

    def __init__(self, what: str, refusals: list[Refusal], hint: str):
        self.refusals = refusals
        shown = "; ".join(str(r) for r in refusals[:_SHOWN])
        more = f" (and {len(refusals) - _SHOWN} more)" if len(refusals) > _SHOWN else ""
        super().__init__(f"{what}: {shown}{more}", hint=hint)


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


def _walk(root: Path) -> Iterator[tuple[str, Path, os.stat_result | str]]:
    """Every entry under `root` with its lstat (or why it cannot be read), never following a link."""
    stack = [("", root)]
    while stack:
        prefix, directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                children = sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            yield prefix.rstrip("/") or ".", directory, f"cannot be read ({exc.strerror})"
            continue
        for entry in children:
            rel = f"{prefix}{entry.name}"
            try:
                info: os.stat_result | str = entry.stat(follow_symlinks=False)
            except OSError as exc:
                info = f"cannot be read ({exc.strerror})"
            yield rel, Path(entry.path), info
            if not isinstance(info, str) and stat.S_ISDIR(info.st_mode):
                stack.append((rel + "/", Path(entry.path)))


def scan_outputs(
    root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES
) -> list[OutputFile]:
    """The regular files of an output tree, sorted; BoundaryError listing every refused entry."""
    root_info = os.lstat(root)
    if not stat.S_ISDIR(root_info.st_mode):
        raise BoundaryError(
            f"outputs {root}", [Refusal(".", _kind(root_info.st_mode))], hint="outputs must be a directory"
        )
    files: list[OutputFile] = []
    refusals: list[Refusal] = []
    total = 0
    for rel, path, info in _walk(root):
        if isinstance(info, str):
            refusals.append(Refusal(rel, info))
        elif stat.S_ISDIR(info.st_mode):
            continue
        elif not stat.S_ISREG(info.st_mode):
            refusals.append(Refusal(rel, _describe_special(path, info.st_mode)))
        elif info.st_size >= SPARSE_MIN_BYTES and info.st_blocks * 512 < info.st_size // 2:
            refusals.append(
                Refusal(
                    rel,
                    f"a sparse file ({human_bytes(info.st_size)} apparent, "
                    f"{human_bytes(info.st_blocks * 512)} written)",
                )
            )
        else:
            total += info.st_size
            files.append(OutputFile(rel, path, info.st_size, stat.S_IMODE(info.st_mode)))
        if len(files) + len(refusals) > max_files:
            raise BoundaryError(
                f"outputs {root}",
                [Refusal(".", f"more than {max_files} files")],
                hint="write fewer, larger files (e.g. an archive) into /mlci/out",
            )
    if refusals:
        raise BoundaryError(
            "outputs hold entries mlci does not copy",
            refusals,
            hint="write regular files into /mlci/out (no links, FIFOs, sockets, devices or sparse files)",
        )
    if total > max_bytes:
        raise BoundaryError(
            "outputs are too large",
            [Refusal(".", f"{human_bytes(total)} in {len(files)} files, over the {human_bytes(max_bytes)} limit")],
            hint="write less into /mlci/out, or raise runner.max_output_size in mlci.yaml",
        )
    return sorted(files, key=lambda f: f.rel)


def _describe_special(path: Path, mode: int) -> str:
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return f"a symbolic link to {target!r} (links are never followed)"
    return _kind(mode)


def open_regular(path: Path, rel: str) -> int:
    """An fd for a file that is still a regular file (not swapped for a link since the scan)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise BoundaryError(
            "outputs changed while being copied", [Refusal(rel, exc.strerror or str(exc))], hint="retry"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BoundaryError("outputs changed while being copied", [Refusal(rel, "no longer a regular file")], "retry")
    return fd


def copy_outputs(files: list[OutputFile], dest: Path) -> None:
    """Copy scanned files into `dest` (a fresh directory); permissions kept but never setuid/setgid."""
    for item in files:
        target = dest / item.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = open_regular(item.path, item.rel)
        with os.fdopen(fd, "rb") as source, open(target, "xb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        os.chmod(target, item.mode & 0o755 | 0o600)


def check_input_file(path: Path, what: str, *, within: Path) -> Path:
    """A file about to be bind-mounted into a container: a regular file inside `within`, not a link.

    Docker resolves a bind source on the host, so a link here would mount its host target.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise UsageError(f"{what} does not exist ({path})") from None
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(
            f"{what} is a symbolic link — mlci mounts only regular files into a container",
            hint=f"replace {path.name} with the file itself",
        )
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{what} is {_kind(info.st_mode)}", hint=f"make {path.name} a regular file")
    real = path.resolve()
    if not real.is_relative_to(within.resolve()):
        raise UsageError(f"{what} lies outside {within} (a linked directory?)", hint="keep the project in projects/")
    return real


def read_small_file(path: Path, *, max_bytes: int) -> bytes | str:
    """The bytes of a small regular file, or why it cannot be read (a link, FIFO, too big, ...)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return "not written"
    except OSError as exc:
        return (
            "a symbolic link (links are never followed)" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror})"
        )
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return "a directory, not a file"
        if not stat.S_ISREG(info.st_mode):
            return _kind(info.st_mode)
        if info.st_size > max_bytes:
            return f"{human_bytes(info.st_size)}, over the {human_bytes(max_bytes)} limit"
        data = b""
        while len(data) <= max_bytes and (chunk := os.read(fd, max_bytes + 1 - len(data))):
            data += chunk
        return data if len(data) <= max_bytes else f"over the {human_bytes(max_bytes)} limit"
    finally:
        os.close(fd)
