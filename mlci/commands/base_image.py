"""`mlci base-image build`: the offline base image (see mlci/host/baseimage.py)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from mlci.host.baseimage import BaseImageOptions, build_base_image
from mlci.manifest.schema import DEFAULT_BASE_IMAGE
from mlci.progress import Phases
from mlci.runner.engine import connect


@click.group("base-image")
def command() -> None:
    """Build the Python base image without a registry (air-gapped sites, TLS proxies)."""


@command.command("build")
@click.option("--suite", default="bookworm", show_default=True, help="Debian suite.")
@click.option("--mirror", default="http://deb.debian.org/debian", show_default=True, help="Debian mirror URL.")
@click.option(
    "--ca-bundle",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM bundle to trust inside the image (e.g. your TLS proxy's CA).",
)
@click.option("--pip-index-url", help="pip index (mirror) the image uses.")
@click.option("--tag", default=DEFAULT_BASE_IMAGE, show_default=True, help="Image tag (build.base_image).")
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the full output goes (default: <cache dir>/logs/base-image-<time>.log).",
)
@click.option("--verbose", "-v", is_flag=True, help="Show every tool's full output, not one line per phase.")
def build(
    suite: str,
    mirror: str,
    ca_bundle: Path | None,
    pip_index_url: str | None,
    tag: str,
    log_path: Path | None,
    verbose: bool,
) -> None:
    """Build a Debian + Python base image with debootstrap and docker import."""
    started = time.monotonic()
    options = BaseImageOptions(tag=tag, suite=suite, mirror=mirror, ca_bundle=ca_bundle, pip_index_url=pip_index_url)
    phases = Phases(verbose=verbose)
    image_id = build_base_image(connect(), options, phases, log_path)
    phases.say(f"built {tag} ({image_id[7:19]}) in {time.monotonic() - started:.0f}s")
