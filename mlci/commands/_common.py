"""Helpers shared by command modules: locating the repository root from the click context."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.manifest import find_root


def repo_root(ctx: click.Context) -> Path:
    root = (ctx.find_root().obj or {}).get("root")
    return Path(root).resolve() if root else find_root()
