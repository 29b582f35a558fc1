"""Progress of long, chatty steps (the base image, project image builds): one line per phase with
its elapsed time and counts where known, while the full output goes to a log file whose path is
printed; `-v` shows everything; a failure shows the log's last 40 lines.

On a terminal a phase's line is redrawn in place as its counts change; anywhere else (Jenkins'
console, a pipe, a file) each phase prints one plain line when it ends — no ANSI codes at all."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

TAIL_LINES = 40
_REDRAW_S = 0.1  # at most 10 redraws a second: a fast phase must not flood a slow terminal


def is_interactive(stream: TextIO) -> bool:
    """A terminal a person watches (not Jenkins, whose console is a pipe anyway, nor TERM=dumb)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM") != "dumb" and "JENKINS_URL" not in os.environ


class Phase:
    def __init__(self, phases: Phases, title: str):
        self._phases = phases
        self.title = title
        self.started = time.monotonic()
        self.counts = ""
        self._drawn = 0.0

    def count(self, text: str) -> None:
        """Counts known so far, e.g. `37 packages` or `step 3/7`."""
        self.counts = text
        now = time.monotonic()
        if self._phases.redraw and now - self._drawn >= _REDRAW_S:
            self._drawn = now
            self._phases.draw(self.line(running=True))

    def line(self, *, running: bool = False, failed: bool = False) -> str:
        elapsed = f"{time.monotonic() - self.started:.1f}s"
        counts = f"{self.counts}, " if self.counts else ""
        state = "…" if running else " FAILED" if failed else ""
        return f"{self.title}{state} ({counts}{elapsed})"


class Phases:
    """Prints phase lines to `stream` (stderr by default) with `prefix`."""

    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False, prefix: str = "mlci: "):
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self.prefix = prefix
        # redraw in place only on a terminal, and not when -v interleaves the full output
        self.redraw = is_interactive(self.stream) and not verbose
        self._dirty = False
        self.current: Phase | None = None

    def say(self, text: str) -> None:
        self._clear()
        self.stream.write(f"{self.prefix}{text}\n")
        self.stream.flush()

    def echo(self, text: str) -> None:
        """Pass output through (used with -v)."""
        self._clear()
        self.stream.write(text)
        self.stream.flush()

    def draw(self, line: str) -> None:
        self.stream.write(f"\r\033[K{self.prefix}{line}")
        self.stream.flush()
        self._dirty = True

    def _clear(self) -> None:
        if self._dirty:
            self.stream.write("\r\033[K")
            self._dirty = False

    @contextlib.contextmanager
    def phase(self, title: str) -> Iterator[Phase]:
        phase = self.current = Phase(self, title)
        if self.redraw:
            self.draw(phase.line(running=True))
        try:
            yield phase
        except BaseException:
            self.say(phase.line(failed=True))
            raise
        finally:
            self.current = None
        self.say(phase.line())


def tail_lines(path: Path, n: int = TAIL_LINES, *, max_bytes: int = 1 << 20) -> list[str]:
    """The last `n` lines of a log, reading at most `max_bytes` from its end."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - max_bytes, 0))
            data = handle.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").replace("\r", "\n").splitlines()[-n:]


def show_tail(phases: Phases, path: Path, n: int = TAIL_LINES) -> None:
    lines = tail_lines(path, n)
    if not lines:
        return
    phases.say(f"last {len(lines)} lines of {path}:")
    phases.echo("".join(f"  {line}\n" for line in lines))
