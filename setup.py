"""Ships the Jenkins shared library (jenkins/library/) and the Ansible playbook (ansible/site.yml,
roles/, ...) inside the wheel as mlci/library/ and mlci/ansible_playbook/.

Everything else is declared in pyproject.toml; this hook only copies those trees into the build, so
the repository keeps one copy of each (where Jenkins, Ansible and the tests read them) and
`mlci render` can write the same files, at the installed version, into a team's repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# source directory → directory in the wheel, and the top-level entries NOT shipped; see mlci/render/trees.py
TREES = {
    Path("jenkins/library"): ("library", ()),
    Path("ansible"): ("ansible_playbook", ("inventory.yml", "group_vars", "host_vars")),
}


class BuildWithLibrary(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads jenkins/library/ from the checkout
            return
        for source, (name, excluded) in TREES.items():
            target = Path(self.build_lib) / "mlci" / name
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for entry in sorted(source.iterdir()):
                if entry.name in excluded or entry.name.startswith(".") or entry.is_symlink():
                    continue
                if entry.is_dir():
                    shutil.copytree(entry, target / entry.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    shutil.copyfile(entry, target / entry.name)


setup(cmdclass={"build_py": BuildWithLibrary})
