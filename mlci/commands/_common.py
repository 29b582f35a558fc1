"""Helpers shared by command modules: locating the repository root from the click context."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import click

from mlci import secrets
from mlci.errors import Cancelled, MlciError
from mlci.manifest import Manifest, find_root, load_project


def repo_root(ctx: click.Context) -> Path:
    root = (ctx.find_root().obj or {}).get("root")
    return Path(root).resolve() if root else find_root()


def remember_secrets(root: Path, manifest: Manifest, project: str | None = None) -> None:
    """Mask every secret the manifest and `project` declare, whatever their names look like, in
    everything this command prints, writes or posts."""
    secrets.remember_all(manifest.secret_names())
    if project:
        # a project that no longer loads declares nothing we could resolve
        with contextlib.suppress(MlciError):
            secrets.remember_all(load_project(root, project).config.secrets)


def say(message: str) -> None:
    """A progress line of a long command (deploy, itest, bundle): on stderr, secrets masked."""
    click.echo(secrets.redact(f"mlci: {message}"), err=True)


def cancel_on_signals() -> None:
    """SIGTERM (a Jenkins abort) raises Cancelled and SIGINT KeyboardInterrupt, so a command's cleanup
    (`finally`, `except BaseException`) runs before it exits 130."""
    signal.signal(signal.SIGTERM, _raise_cancelled)
    # a background job of a non-interactive shell starts with SIGINT ignored: install it explicitly
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _raise_cancelled(signum: int, frame: object) -> None:
    raise Cancelled("terminated")
