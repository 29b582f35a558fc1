"""The `mlci` command line: a thin click layer. Each command lives in mlci/commands/<name>.py
(`command` attribute) and is imported only when invoked, so start-up stays fast.
The one place that turns MlciError into a message and an exit code is `main`.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import click

import mlci.commands
from mlci import __version__
from mlci.errors import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, ConfigError, MlciError
from mlci.secrets import redact

_COMMANDS_PKG = "mlci.commands"


def _command_modules() -> dict[str, str]:
    return {
        m.name.replace("_", "-"): m.name
        for m in pkgutil.iter_modules(mlci.commands.__path__)
        if not m.name.startswith("_")
    }


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_command_modules())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = _command_modules().get(name)
        if module is None:
            return None
        return importlib.import_module(f"{_COMMANDS_PKG}.{module}").command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlci")
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True),
    envvar="MLCI_ROOT",
    help="Monorepo root (default: nearest parent with mlci.yaml or projects/).",
)
@click.pass_context
def cli(ctx: click.Context, root: str | None) -> None:
    """Continuous training on your own GPU servers."""
    ctx.obj = {"root": root}


def main(argv: list[str] | None = None) -> int:
    try:
        result = cli.main(args=argv, prog_name="mlci", standalone_mode=False)
        if isinstance(result, int):  # ctx.exit(n) comes back as a return value without standalone mode
            return result
    except MlciError as exc:
        # a client library's message may quote a token or webhook URL
        click.echo(redact(str(exc) if isinstance(exc, ConfigError) else f"error: {exc}"), err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("cancelled", err=True)
        return EXIT_CANCELLED
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if exc.exit_code == 2 else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("cancelled", err=True)
        return EXIT_CANCELLED
    except Exception as exc:  # a bug in mlci, not in the user's input
        if os.environ.get("MLCI_DEBUG"):
            raise
        click.echo(
            f"internal error: {type(exc).__name__}: {exc} — rerun with MLCI_DEBUG=1 for a traceback and report it",
            err=True,
        )
        return EXIT_FAILED
    return 0


def run() -> None:
    sys.exit(main())
