"""The Jenkins shared library, rendered into a team's repository at `jenkins.library.path`.

JCasC loads the library from the team's own repository (`repository.url` at `jenkins.library.version`),
so the files must be there: they are this mlci version's library (shipped in the wheel), marked
generated, and `mlci render --check` fails when they drift from the pinned version. In mlci's own
checkout the library *is* the source and is not rendered onto itself.
"""

from __future__ import annotations

from pathlib import Path

from mlci import __version__
from mlci.library import is_library_source, library_files
from mlci.render.syntax import HEADER


def _mark(path: str, text: str) -> str:
    note = f"{HEADER} (mlci {__version__}'s Jenkins library)"
    if path.endswith(".groovy"):
        return f"// {note}\n{text}"
    if path.endswith(".md"):
        return f"<!-- {note} -->\n{text}"
    return text  # help pages (vars/*.txt) are shown as-is in Jenkins' snippet generator


def render_library(root: Path, library_path: str) -> dict[str, str]:
    """Repository path → content; empty when `root/library_path` is mlci's own library source."""
    if is_library_source(root / library_path):
        return {}
    base = library_path.strip("/")
    return {f"{base}/{rel}": _mark(rel, text) for rel, text in library_files().items()}
