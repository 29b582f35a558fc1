"""Writing a bundle on the real engine: never a half-written archive — interrupted (SIGINT, SIGTERM)
during `docker save` or while the archive is written, or refused because the store's model files
are no longer what was published — and a clear error when the engine lacks the version's image."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mlci.boundary import scan_outputs
from mlci.bundle.source import find_image, resolve
from mlci.bundle.write import write_bundle
from mlci.cli import main
from mlci.errors import MlciError
from mlci.manifest import load_manifest
from mlci.progress import Phases

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def wait_for_growth(directory: Path, pattern: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until a file matching `pattern` in `directory` has data (the step to interrupt is under way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.stat().st_size > 0 for p in directory.glob(pattern)):
            return
        if proc.poll() is not None:
            raise AssertionError(f"mlci bundle ended before it could be interrupted: {proc.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError(f"nothing matching {pattern} grew in {directory}")


@pytest.mark.parametrize(
    ("step", "pattern", "signum"),
    [
        ("docker save", ".b.tar.gz.image-*.partial", signal.SIGINT),
        ("writing the archive", ".b.tar.gz.archive-*.partial", signal.SIGINT),
        ("docker save", ".b.tar.gz.image-*.partial", signal.SIGTERM),
    ],
)
def test_an_interrupted_bundle_leaves_nothing(digits_version, tmp_path, step, pattern, signum):
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "MLCI_ROOT": str(digits_version), "MLCI_CACHE_DIR": str(digits_version.parent / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "bundle", "digits", "v1", "--out", str(out / "b.tar.gz")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for_growth(out, pattern, proc)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "cancelled" in err or "terminated; no bundle was written" in err
    assert list(out.iterdir()) == [], f"left behind after an interrupt during {step}"


def test_model_files_changed_in_the_store_refuse_the_bundle(digits_version, docker_client, tmp_path):
    manifest = load_manifest(digits_version)
    source = resolve(digits_version, manifest, "digits", "v1", None, say=print)
    changed = tmp_path / "changed"
    shutil.copytree(source.model_dir, changed)
    (changed / "metrics.json").write_bytes((changed / "metrics.json").read_bytes() + b" ")
    out = tmp_path / "out"
    out.mkdir()
    image = find_image(docker_client, source.entry, "digits")
    with pytest.raises(MlciError, match="the store's model files are not what was published") as caught:
        write_bundle(
            docker_client,
            replace(source, model_files=scan_outputs(changed)),
            image,
            out / "b.tar",
            compress=False,
            phases=Phases(),
        )
    assert "nothing was written" in str(caught.value)
    assert list(out.iterdir()) == []


def test_a_version_whose_image_is_not_in_the_engine_is_refused(published, capsys):
    # the fixture's version records an image id no engine has
    assert main(["--root", str(published), "bundle", "digits", "v1", "--out", str(published / "b.tar")]) == 1
    err = capsys.readouterr().err
    assert f"the image of digits v1 (sha256:{'ab' * 32}) is not in this Docker engine" in err
    assert "rebuild it on this host (mlci run), then bundle again" in err
    assert not list(published.glob("*b.tar*"))
