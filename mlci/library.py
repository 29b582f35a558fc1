"""Where the Jenkins shared library of this mlci version is: inside the installed wheel
(mlci/library/, copied there by setup.py), or jenkins/library/ of mlci's own checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGED = Path(__file__).resolve().parent / "library"
CHECKOUT = Path(__file__).resolve().parent.parent / "jenkins" / "library"
MAX_FILES = 500  # the library is a few dozen files; more means something is wrong with the install
MAX_BYTES = 1_000_000


def library_root() -> Path:
    for candidate in (PACKAGED, CHECKOUT):
        if (candidate / "vars").is_dir():
            return candidate
    raise FileNotFoundError(f"the Jenkins shared library is missing from this mlci install ({PACKAGED})")


def library_files() -> dict[str, str]:
    """Relative path (forward slashes) → text of every library file, sorted; links are never followed."""
    root = library_root()
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_symlink() or not path.is_file() or "__pycache__" in rel.parts or rel.name.startswith("."):
            continue
        if path.suffix == ".pyc" or path.stat().st_size > MAX_BYTES or len(files) >= MAX_FILES:
            continue
        files[rel.as_posix()] = path.read_text(encoding="utf-8")
    return files


def is_library_source(directory: Path) -> bool:
    """True when `directory` is this install's library itself (mlci's own checkout): never render onto it."""
    try:
        return directory.resolve() == library_root().resolve()
    except FileNotFoundError:
        return False
