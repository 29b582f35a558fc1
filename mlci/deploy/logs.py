"""The logs a deployment leaves in the checkout: `.mlci/deploy/<env>-<project>-<version>.log` (a
candidate that did not become healthy) and `...-itest.log` (an integration test). Each is written to
a temporary file beside it and renamed into place, so a link planted at the name is replaced, never
followed, and a reader never sees half a log; secrets are masked on the way."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlci.errors import MlciError
from mlci.runner.logsink import LogSink

DEPLOY_DIR = Path(".mlci") / "deploy"
MAX_LOG_BYTES = 16 << 20  # what is kept of a failed candidate's output (the engine keeps 60 MiB at most)
TAIL_LINES = 20


def log_dir(root: Path) -> Path:
    directory = root / DEPLOY_DIR
    for part in (root / DEPLOY_DIR.parts[0], directory):
        if part.is_symlink():
            raise MlciError(f"{part} is a symbolic link; mlci never writes through links", hint=f"remove {part}")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def log_path(root: Path, env: str, project: str, version: str, suffix: str = "") -> Path:
    # env, project and version are checked names ([a-z0-9-], v<digits>): safe in a file name
    return log_dir(root) / f"{env}-{project}-{version}{suffix}.log"


@contextlib.contextmanager
def log_file(path: Path, *, echo: bool, secrets: tuple[str, ...]) -> Iterator[LogSink]:
    """A LogSink on a temporary file that becomes `path` when the block ends, however it ends."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with LogSink(Path(tmp), echo=echo, secrets=secrets) as sink:
            yield sink
    finally:
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


def save_container_log(api: Any, container: str, path: Path, secrets: tuple[str, ...], trailer: str) -> None:
    """The engine's copy of the container's output (bounded), then `trailer` (what mlci saw)."""
    written = 0
    with log_file(path, echo=False, secrets=secrets) as sink:
        with contextlib.suppress(Exception):  # a container without logs still gets mlci's trailer
            for chunk in api.logs(container, stdout=True, stderr=True, stream=True, follow=False):
                if written + len(chunk) > MAX_LOG_BYTES:
                    sink.write(f"\nmlci: log cut at {MAX_LOG_BYTES} bytes\n")
                    break
                sink.write(chunk)
                written += len(chunk)
        sink.write(f"\nmlci: {trailer}\n")
