"""`mlci new NAME`: a project directory that runs as is, copied from mlci/assets/project/."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from mlci.errors import UsageError
from mlci.manifest.fields import NAME_RE
from mlci.manifest.loader import PROJECTS_DIR

RENAMED = {"dockerignore": ".dockerignore"}  # dotfiles are not reliably packaged


def scaffold(root: Path, name: str) -> Path:
    if not re.fullmatch(NAME_RE, name):
        raise UsageError(f"'{name}' is not a valid project name", hint="use lowercase letters, digits and dashes")
    target = root / PROJECTS_DIR / name
    if target.exists():
        raise UsageError(f"{PROJECTS_DIR}/{name} already exists", hint="pick another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.new-", dir=target.parent))
    try:
        _copy(resources.files("mlci") / "assets" / "project", staging, name)
        (staging / "run.sh").chmod(0o755)
        os.rename(staging, target)  # all or nothing
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _copy(source, dest: Path, name: str) -> None:
    for entry in source.iterdir():
        # pip compiles the asset's .py files when it installs the wheel: never copy the bytecode
        if entry.name == "__pycache__" or entry.name.endswith(".pyc"):
            continue
        out = dest / RENAMED.get(entry.name, entry.name)
        if entry.is_dir():
            out.mkdir()
            _copy(entry, out, name)
        else:
            out.write_text(entry.read_text(encoding="utf-8").replace("__PROJECT__", name), encoding="utf-8")
