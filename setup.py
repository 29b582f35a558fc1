"""Ships the Jenkins shared library (jenkins/library/) inside the wheel as mlci/library/.

Everything else is declared in pyproject.toml; this hook only copies the library into the build,
so the repository keeps one copy of it (at jenkins/library/, where Jenkins and the tests read it)
and `mlci render` can write the same files, at the installed version, into a team's repository.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LIBRARY_SOURCE = Path("jenkins") / "library"


class BuildWithLibrary(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads jenkins/library/ from the checkout
            return
        target = Path(self.build_lib) / "mlci" / "library"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(
            LIBRARY_SOURCE, target, symlinks=False, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
        )


setup(cmdclass={"build_py": BuildWithLibrary})
