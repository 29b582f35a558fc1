"""Stream bytes to a log file and (optionally) the console as they arrive, never holding more
than one chunk in memory, with the values of the run's secrets masked on the way."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from mlci.errors import MlciError

MASK = b"****"


class LogWriteError(MlciError):
    """A log could not be written (a full disk): the stage it belongs to is stopped at once."""


class LogSink:
    def __init__(
        self,
        path: Path,
        *,
        echo: bool = True,
        console: BinaryIO | None = None,
        secrets: Iterable[str] = (),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("ab", buffering=0)
        self._console = (console or sys.stdout.buffer) if echo else None
        self._secrets = sorted({s.encode() for s in secrets if s}, key=len, reverse=True)
        # A secret split across two chunks is caught by holding back the last len-1 bytes. Each
        # stream (stdout, stderr) keeps its own hold-back: a secret written to stdout in two parts
        # with a stderr frame between them is still one secret.
        self._hold = max((len(s) for s in self._secrets), default=1) - 1
        self._carry: dict[int, bytes] = {}

    def write(self, data: bytes | str, stream: int = 1) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        if not self._secrets:
            self._emit(data)
            return
        buffer = self._carry.get(stream, b"") + data
        for secret in self._secrets:
            buffer = buffer.replace(secret, MASK)
        cut = max(len(buffer) - self._hold, 0)
        self._carry[stream] = buffer[cut:]
        self._emit(buffer[:cut])

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        try:
            self._file.write(data)
        except OSError as exc:
            raise LogWriteError(
                f"cannot write the log {self.path}: {os.strerror(exc.errno or 5)}",
                hint="free space on that filesystem (df -h) and run again",
            ) from None
        if self._console is not None:
            try:
                self._console.write(data)
                self._console.flush()
            except (BrokenPipeError, ValueError):
                self._console = None  # the reader went away; keep logging to disk

    def close(self) -> None:
        try:
            for stream in sorted(self._carry):
                self._emit(self._carry[stream])
        finally:
            self._carry.clear()
            with contextlib.suppress(OSError):  # unbuffered: a failed write was already raised
                self._file.close()

    def __enter__(self) -> LogSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a log file (at most its last 8 KiB read), "" when it cannot be read."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
