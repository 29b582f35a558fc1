"""The trees mlci ships, rendered into a team's repository at the pinned version: the Jenkins shared
library at `jenkins.library.path`, and the Ansible playbook with its roles at ansible/.

JCasC loads the library from the team's own repository (`repository.url` at `jenkins.library.version`),
and `ansible-playbook ansible/site.yml` runs in the team's checkout, so the files must be there: they
are this mlci version's (shipped in the wheel), marked generated, and `mlci render --check` fails when
they drift from the pinned version. In mlci's own checkout they are the source and are not rendered.
"""

from __future__ import annotations

from pathlib import Path

from mlci import __version__
from mlci.render.syntax import HEADER
from mlci.render.trees import is_tree_source, tree_files

ANSIBLE_DIR = "ansible"


def _mark(path: str, text: str, what: str) -> str:
    note = f"{HEADER} (mlci {__version__}'s {what})"
    if path.endswith(".groovy"):
        return f"// {note}\n{text}"
    if path.endswith(".md"):
        return f"<!-- {note} -->\n{text}"
    if path.endswith((".yml", ".yaml", ".cfg")):
        return f"# {note}\n{text}"
    return text  # help pages (vars/*.txt) and Jinja templates are used as they are


def _render(root: Path, tree: str, base: str, what: str) -> dict[str, str]:
    if is_tree_source(tree, root / base):
        return {}
    base = base.strip("/")
    return {f"{base}/{rel}": _mark(rel, text, what) for rel, text in tree_files(tree).items()}


def render_library(root: Path, library_path: str) -> dict[str, str]:
    """Repository path → content; empty when `root/library_path` is mlci's own library source."""
    return _render(root, "library", library_path, "Jenkins library")


def render_playbook(root: Path) -> dict[str, str]:
    """ansible/site.yml, ansible.cfg, README.md and roles/; empty in mlci's own checkout."""
    return _render(root, "ansible", ANSIBLE_DIR, "Ansible playbook")
