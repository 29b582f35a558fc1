"""`mlci bundle PROJECT VERSION [--out FILE] [--store NAME]`: one archive that carries a published
model version to a device without registry access — image, model files, manifest, start.sh;
`mlci bundle --verify FILE [--json]`: check such an archive, without Docker (exit 0 ok, 1 bad, 2 usage)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import click

from mlci import secrets
from mlci.boundary import human_bytes
from mlci.bundle.manifest import MODEL_DIR, START_FILE, BundleError
from mlci.bundle.source import find_image, resolve
from mlci.bundle.verify import describe, verify_bundle
from mlci.bundle.write import output_path, write_bundle
from mlci.commands._common import remember_secrets, repo_root, say
from mlci.errors import Cancelled, UsageError
from mlci.manifest import load_manifest
from mlci.progress import Phases
from mlci.runner.engine import connect

USAGE = "mlci bundle PROJECT VERSION [--out FILE] [--store NAME], or mlci bundle --verify FILE [--json]"


@click.command("bundle")
@click.argument("project", required=False)
@click.argument("version", required=False)
@click.option("--out", help="The bundle file: NAME.tar.gz (gzip) or NAME.tar (default: ./PROJECT-VERSION.tar.gz).")
@click.option("--store", "store_name", help="Local store whose version index holds VERSION (default: the project's).")
@click.option(
    "--verify", "verify_file", metavar="FILE", help="Check a bundle instead of making one (no Docker needed)."
)
@click.option("--json", "as_json", is_flag=True, help="With --verify: the result as JSON on stdout.")
@click.pass_context
def command(
    ctx: click.Context,
    project: str | None,
    version: str | None,
    out: str | None,
    store_name: str | None,
    verify_file: str | None,
    as_json: bool,
) -> int | None:
    """Bundle PROJECT's model VERSION for an offline device, or --verify a bundle."""
    if verify_file is not None:
        if project or version or out or store_name:
            raise UsageError("--verify FILE takes no PROJECT, VERSION, --out or --store", hint=USAGE)
        return _verify(Path(verify_file), as_json)
    if as_json:
        raise UsageError("--json goes with --verify FILE", hint=USAGE)
    if not project or not version:
        raise UsageError("name the PROJECT and the VERSION to bundle (see `mlci versions PROJECT`)", hint=USAGE)
    _make(ctx, project, version, out, store_name)
    return None


def _verify(path: Path, as_json: bool) -> int:
    try:
        verified = verify_bundle(path)
    except BundleError as exc:
        if not as_json:
            raise
        click.echo(json.dumps({"ok": False, "file": str(path), "problems": exc.problems}, indent=2))
        return 1
    m = verified.manifest
    if as_json:
        result = {
            "ok": True,
            "file": str(path),
            "schemaVersion": m.schema_version,
            "project": m.project,
            "version": m.version,
            "jobId": m.job_id,
            "commit": m.commit,
            "imageId": m.image.id,
            "layers": verified.layers,
            "files": [f.model_dump(by_alias=True) for f in m.files],
            "members": verified.members,
            "bytes": verified.total_bytes,
        }
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"✓ {path}: {describe(verified)}")
    return 0


@secrets.redacted_errors
def _make(ctx: click.Context, project: str, version: str, out: str | None, store_name: str | None) -> None:
    root = repo_root(ctx)
    manifest = load_manifest(root)
    remember_secrets(root, manifest, project)
    path, compress = output_path(out, project, version)
    source = resolve(root, manifest, project, version, store_name, say=say)
    say(f"serve: settings from {source.serve_source}")
    client = connect()
    image = find_image(client, source.entry, project)
    signal.signal(signal.SIGTERM, _raise_cancelled)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job starts with SIGINT ignored
    written = write_bundle(client, source, image, path, compress=compress, phases=Phases())
    m = written.manifest
    models = sum(1 for f in m.files if f.path.startswith(f"{MODEL_DIR}/"))
    click.echo(
        f"✓ {written.path} ({human_bytes(written.size)}): {project} {version} (job {m.job_id}), image"
        f" {m.image.id[:19]}…, {models} model files"
    )
    click.echo(f"  check it: mlci bundle --verify {written.path}")
    click.echo(f"  on the device: tar -xf {written.path.name} && ./{m.top}/{START_FILE}")


def _raise_cancelled(signum: int, frame: object) -> None:
    raise Cancelled("terminated; no bundle was written")
