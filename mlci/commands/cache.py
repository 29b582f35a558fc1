"""`mlci cache ls|prune`: the per-host, per-project stage caches (see mlci/runner/stage_cache.py)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import click

from mlci.commands._common import repo_root
from mlci.errors import UsageError
from mlci.manifest import load_manifest
from mlci.manifest.units import parse_duration, parse_size
from mlci.publish import version_cache
from mlci.runner import stage_cache as cache

DIR_OPTION = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache root (default: MLCI_CACHE_DIR, else runner.cache_dir of the monorepo, else ~/.cache/mlci).",
)


def _root(ctx: click.Context, directory: Path | None) -> Path:
    """Explicit --dir, else MLCI_CACHE_DIR, else the manifest's runner.cache_dir when run inside a
    monorepo (a host's cron job runs outside one), else the default."""
    if directory is not None or os.environ.get("MLCI_CACHE_DIR"):
        return directory or cache.cache_path()
    configured = None
    with contextlib.suppress(UsageError):  # not inside a monorepo
        configured = load_manifest(repo_root(ctx)).runner.cache_dir
    return cache.cache_path(configured)


def _parsed(option: str, text: str | None, parse: Callable[..., int]) -> int | None:
    """An option's size or duration (mlci/manifest/units.py), zero allowed; a usage error (exit 2) otherwise."""
    if text is None:
        return None
    try:
        return parse(text, allow_zero=True)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


@click.group("cache")
def command() -> None:
    """The stage caches (/mlci/cache: HF_HOME, pip, torch, XDG), one per project."""


@command.command("ls")
@DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def ls(ctx: click.Context, directory: Path | None, as_json: bool) -> None:
    """List project caches: size, last use, whether a stage is using one now."""
    root = _root(ctx, directory)
    entries = cache.list_caches(root)
    if as_json:
        rows = [
            {"project": e.project, "path": str(e.path), "bytes": e.size, "lastUsed": e.last_used, "inUse": e.in_use}
            for e in entries
        ]
        click.echo(json.dumps({"root": str(root), "caches": rows}, indent=2))
        return
    if not entries:
        click.echo(f"no project caches under {root}")
        return
    click.echo(f"{'PROJECT':24} {'SIZE':>10}  {'LAST USED':20} IN USE")
    for e in entries:
        used = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.last_used))
        click.echo(f"{e.project:24} {cache.human_size(e.size):>10}  {used:20} {'yes' if e.in_use else 'no'}")
    click.echo(f"total {cache.human_size(sum(e.size for e in entries))} in {root}")


@command.command("prune")
@DIR_OPTION
@click.option("--older-than", help="Remove caches no stage used for this long (e.g. 30d, 12h, 2w, 1d12h; 0 = all).")
@click.option(
    "--max-size", help="Then remove the least recently used until the total fits (e.g. 200g, 1.5t; binary units)."
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.pass_context
def prune(
    ctx: click.Context, directory: Path | None, older_than: str | None, max_size: str | None, dry_run: bool
) -> None:
    """Remove project caches by age and/or total size; a cache a running stage uses is kept. Also
    removes what killed commands left: deploy downloads untouched for 6 h, a pruned cache's trash."""
    if older_than is None and max_size is None:
        raise UsageError("prune needs --older-than and/or --max-size", hint="e.g. mlci cache prune --older-than 30d")
    age = _parsed("--older-than", older_than, parse_duration)
    size = _parsed("--max-size", max_size, parse_size)
    root = _root(ctx, directory)
    result = cache.prune(root, older_than_s=age, max_size=size, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for leftover in version_cache.abandoned(root, time.time()) + cache.trash_leftovers(root):
        click.echo(
            f"{verb} {leftover.relative_to(root)} ({cache.human_size(cache.disk_usage(leftover))}): left by a killed command"
        )
        if not dry_run:
            cache.remove_tree(leftover)
    for e in result.removed:
        click.echo(f"{verb} {e.project} ({cache.human_size(e.size)})")
    for e in result.busy:
        click.echo(f"kept {e.project}: a stage is using it")
    freed = sum(e.size for e in result.removed)
    kept = sum(e.size for e in result.kept + result.busy)
    click.echo(f"{verb} {len(result.removed)} cache(s), {cache.human_size(freed)}; {cache.human_size(kept)} kept")
