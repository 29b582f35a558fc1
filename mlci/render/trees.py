"""The trees that ship inside mlci and are rendered into a team's repository at its pinned version:
the Jenkins shared library (jenkins/library/) and the Ansible playbook with its roles (ansible/).

In an installed wheel they are mlci/library/ and mlci/ansible_playbook/ (copied there by setup.py);
in mlci's own checkout they are read from jenkins/library/ and ansible/ directly.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # mlci/ (this module is mlci/render/trees.py)
CHECKOUT = PACKAGE.parent
MAX_FILES = 500  # each tree is a few dozen files; more means something is wrong with the install
MAX_BYTES = 1_000_000

# name → (directory inside the wheel, directory in mlci's checkout, top-level entries NOT shipped)
TREES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "library": ("library", "jenkins/library", ()),
    # the inventory and group_vars are rendered from the team's mlci.yaml; host_vars are the team's
    "ansible": ("ansible_playbook", "ansible", ("inventory.yml", "group_vars", "host_vars")),
}


def tree_root(tree: str) -> Path:
    packaged, checkout, _ = TREES[tree]
    for candidate in (PACKAGE / packaged, CHECKOUT / checkout):
        if candidate.is_dir() and any(candidate.iterdir()):
            return candidate
    raise FileNotFoundError(f"mlci's {tree} files are missing from this install ({PACKAGE / packaged})")


def tree_files(tree: str) -> dict[str, str]:
    """Relative path (forward slashes) → text of every shipped file, sorted; links are never followed."""
    root = tree_root(tree)
    excluded = TREES[tree][2]
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in excluded:
            continue
        if path.is_symlink() or not path.is_file() or "__pycache__" in rel.parts or rel.name.startswith("."):
            continue
        if path.suffix == ".pyc" or path.stat().st_size > MAX_BYTES or len(files) >= MAX_FILES:
            continue
        files[rel.as_posix()] = path.read_text(encoding="utf-8")
    return files


def library_files() -> dict[str, str]:
    return tree_files("library")


def is_tree_source(tree: str, directory: Path) -> bool:
    """True when `directory` is this install's own copy (mlci's checkout): never render onto it."""
    try:
        return directory.resolve() == tree_root(tree).resolve()
    except FileNotFoundError:
        return False
