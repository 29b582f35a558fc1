"""Compare rendered files with the disk (stale / missing, unified diffs) and write them atomically."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from mlci.atomic import write_text_atomic
from mlci.render import RenderedFile


@dataclass(frozen=True)
class Drift:
    path: str
    state: str  # "missing" | "stale"
    diff: str


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return path.read_bytes().decode("utf-8", errors="replace")


def drift(out: Path, files: list[RenderedFile]) -> list[Drift]:
    """Files whose content on disk differs from the rendered one (create-only files: only if missing)."""
    found = []
    for f in files:
        current = _read(out / f.path)
        if current == f.content or (f.create_only and current is not None):
            continue
        diff = "".join(
            difflib.unified_diff(
                [] if current is None else current.splitlines(keepends=True),
                f.content.splitlines(keepends=True),
                fromfile="/dev/null" if current is None else f"a/{f.path}",
                tofile=f"b/{f.path}",
            )
        )
        found.append(Drift(f.path, "missing" if current is None else "stale", diff))
    return found


def write(out: Path, files: list[RenderedFile]) -> list[Drift]:
    """Write every drifted file (temp file + rename: never half-written); returns what changed."""
    changed = drift(out, files)
    by_path = {f.path: f for f in files}
    for d in changed:
        write_text_atomic(out / d.path, by_path[d.path].content, mode=0o644, fsync=False)
    return changed
