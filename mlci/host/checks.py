"""One line of `mlci doctor`: a check's name, verdict, what was seen and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Check:
    name: str
    ok: bool | None  # None: skipped, with the reason in detail
    detail: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        if self.ok is None:
            return f"– {self.name}: {self.detail}"
        if self.ok:
            return f"✓ {self.name}: {self.detail}"
        optional = "" if self.required else " (advisory)"
        return f"✗ {self.name}: {self.detail}{f' — {self.fix}' if self.fix else ''}{optional}"

    @property
    def failed_required(self) -> bool:
        return self.ok is False and self.required
