"""`mlci dashboard [--bind 127.0.0.1] [--port 8765] [--runs-dir DIR]`: the run dashboard."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import socket
from pathlib import Path

import click

from mlci import secrets
from mlci.commands._common import repo_root
from mlci.contract import RUNS_DIR_ENV, runs_dir_usable
from mlci.errors import MlciError, UsageError
from mlci.manifest import load_manifest
from mlci.record.store import runs_dir as records_dir
from mlci.release.jenkins import connect, project_job
from mlci.web import i18n
from mlci.web.auth import Auth

# The web server is the optional `dashboard` extra; `mlci --help` imports every command module, so
# without the extra this one still loads and the command says how to install it.
HAS_EXTRA = all(importlib.util.find_spec(name) is not None for name in ("starlette", "uvicorn"))
if HAS_EXTRA:
    import uvicorn

    from mlci.web.app import Settings, create_app


def _loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def _rerun_callable(manifest):
    """Start the project's Jenkins job, the way `mlci trigger PROJECT` does; None without Jenkins."""
    if manifest is None or not (os.environ.get("MLCI_JENKINS_URL") or manifest.jenkins.url):
        return None

    def rerun(project: str) -> int:
        return connect(manifest).start(project_job(project), {})

    return rerun


def build_settings(root: Path, lang):
    """The app's settings from the checkout's mlci.yaml, when there is one: its locale, the login
    password (a secret name), and the rerun action when Jenkins is configured too."""
    manifest = load_manifest(root) if (root / "mlci.yaml").is_file() else None
    password = None
    if manifest is not None:
        secrets.remember_all(manifest.secret_names())  # masked in whatever a page shows of an error
    if manifest is not None and manifest.dashboard.password:
        password = secrets.resolve(manifest.dashboard.password, purpose="the dashboard's login password")
    return Settings(
        root=root,
        locale=manifest.locale if manifest is not None else lang,
        auth=Auth(password=password),
        rerun=_rerun_callable(manifest) if password else None,
    )


def _listen(bind: str, port: int) -> socket.socket:
    """The listening socket, bound before the server starts, so a taken port is a usage error."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((bind, port))
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {bind}:{port}: {exc.strerror or exc}", hint="pick another --port or --bind"
        ) from None
    return sock


@click.command("dashboard")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False),
    help=f"Run records to show (default: ${RUNS_DIR_ENV}, else the checkout's .mlci/runs).",
)
@click.pass_context
def command(ctx: click.Context, bind: str, port: int, runs_dir: str | None) -> None:
    """Serve a web dashboard over the run records (read-only unless dashboard.password is set)."""
    lang = i18n.from_environment()
    if not HAS_EXTRA:
        raise UsageError(i18n.translate(lang, "cli.missing_extra"))

    if runs_dir is not None:
        absolute = str(Path(runs_dir).resolve())
        if not runs_dir_usable(absolute):
            raise UsageError(f"--runs-dir {runs_dir[:200]!r} is not usable", hint="give an absolute directory path")
        os.environ[RUNS_DIR_ENV] = absolute  # the readers honour it, exactly as for `mlci status`
    try:
        root = repo_root(ctx)
    except MlciError:  # a host's runs directory without a checkout: no manifest, read-only
        if runs_dir is None:
            raise
        root = Path.cwd()
    settings = build_settings(root, lang)
    sock = _listen(bind, port)
    host = f"[{bind}]" if ":" in bind else bind
    click.echo(i18n.translate(lang, "cli.serving", url=f"http://{host}:{port}/", runs=records_dir(root)), err=True)
    click.echo(i18n.translate(lang, "cli.login" if settings.auth.enabled else "cli.read_only"), err=True)
    if not _loopback(bind):
        click.echo(i18n.translate(lang, "cli.beyond_loopback", bind=bind), err=True)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", access_log=False))
    server.run(sockets=[sock])
