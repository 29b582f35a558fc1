"""Stream bytes to a log file and (optionally) the console as they arrive, never holding more
than one chunk in memory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import BinaryIO


class LogSink:
    def __init__(self, path: Path, *, echo: bool = True, console: BinaryIO | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("ab", buffering=0)
        self._console = (console or sys.stdout.buffer) if echo else None

    def write(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        self._file.write(data)
        if self._console is not None:
            try:
                self._console.write(data)
                self._console.flush()
            except (BrokenPipeError, ValueError):
                self._console = None  # the reader went away; keep logging to disk

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> LogSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
