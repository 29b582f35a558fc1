"""Shared by the workflow tests: act, and (for ci.yml) mlci's wheel with every dependency on a
package index on 127.0.0.1, so a workflow run reaches nothing beyond this machine."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adoption.adoption_support import package_index

# what the rendered ci.yml installs next to mlci in a team's repository
CI_TOOLS = ("pytest", "ruff")


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(name).decode().splitlines()
    return [
        line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]


def _wheelhouse(requirements: list[str]) -> Path:
    """Wheels of `requirements` and their dependencies, downloaded from the package index once per
    machine (a cache, like the base image): the workflow run itself then needs no outside index."""
    key = hashlib.sha256("\n".join([sys.version.split()[0], *sorted(requirements)]).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlci-tests" / f"wheelhouse-{key}"
    if not (cache / ".complete").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--dest", str(cache), *requirements],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        (cache / ".complete").write_text("ok\n")
    return cache


@pytest.fixture(scope="session")
def local_index(mlci_dists: tuple[Path, Path]) -> Iterator[str]:
    """A PEP 503 index on 127.0.0.1 with mlci's wheel built from this checkout (the adoption test's
    wheel and index) and wheels of its dependencies and of the CI tools."""
    wheel, sdist = mlci_dists
    others = sorted(
        p for p in _wheelhouse([*_requires(wheel), *CI_TOOLS]).glob("*.whl") if not p.name.startswith("mlci-")
    )
    with package_index(wheel, sdist, *others) as index:
        yield index
