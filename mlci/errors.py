"""The exceptions mlci raises on purpose; the CLI maps each to a message and an exit code.

Exit codes: 0 success, 1 a stage/gate/publish failed, 2 usage or configuration error,
130 cancelled by the user.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130


class MlciError(Exception):
    """An expected failure with a message fit for the user (no traceback)."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class UsageError(MlciError):
    """Bad arguments or environment the user must fix before anything runs."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Problem:
    """One configuration problem, located in its source file."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(MlciError):
    """One or more problems in mlci.yaml or a project.yaml; each printed on its own line."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class Cancelled(MlciError):
    """The user interrupted the run (SIGINT/SIGTERM)."""

    exit_code = EXIT_CANCELLED
