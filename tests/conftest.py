"""Fixtures shared by the whole suite: the real Docker engine, the offline base image, and
throw-away monorepos built from small fixture projects."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlci.manifest.schema import DEFAULT_BASE_IMAGE

REPO = Path(__file__).resolve().parents[1]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

FIXTURE_DOCKERFILE = textwrap.dedent("""\
    ARG BASE_IMAGE
    FROM ${BASE_IMAGE}
    WORKDIR /app
    COPY . .
""")


@pytest.fixture(scope="session")
def docker_client():
    """The real engine; the README's test command installs and starts it, so absence is a failure."""
    from mlci.runner.engine import connect

    return connect()


@pytest.fixture(scope="session")
def base_image(docker_client) -> str:
    """The offline base image, built once per machine with `mlci base-image build` (about a minute)."""
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(DEFAULT_BASE_IMAGE)
    except ImageNotFound:
        cmd = [sys.executable, "-m", "mlci", "base-image", "build", "--tag", DEFAULT_BASE_IMAGE]
        if CA_BUNDLE.is_file():
            cmd += ["--ca-bundle", str(CA_BUNDLE)]
        subprocess.run(cmd, check=True)
    return DEFAULT_BASE_IMAGE


@pytest.fixture
def no_backoff(monkeypatch):
    """Retries happen, but without waiting."""
    waits: list[float] = []
    monkeypatch.setattr("mlci.publish.stores.retry._sleep", waits.append)
    return waits


def write_project(
    root: Path,
    name: str,
    project_yaml: str,
    *,
    files: dict[str, str] | None = None,
    dockerfile: str = FIXTURE_DOCKERFILE,
) -> Path:
    path = root / "projects" / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "project.yaml").write_text(textwrap.dedent(project_yaml))
    (path / "Dockerfile").write_text(dockerfile)
    for rel, text in (files or {}).items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def monorepo(tmp_path: Path, monkeypatch) -> Path:
    """An empty monorepo (git, mlci.yaml) whose runs and cache stay inside tmp_path."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "mlci.yaml").write_text("version: 1\nname: test-repo\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    monkeypatch.setenv("MLCI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MLCI_ROOT", str(root))
    return root


def commit_all(root: Path) -> str:
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "fixture"],
        check=True,
    )
    return subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def mlci(root: Path, *args: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    full_env = {**os.environ, "MLCI_ROOT": str(root), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=root
    )


# ---------------------------------------------------------------- every record the suite wrote
BAD_RECORDS_MARKER = ".deliberately-bad-records"  # a test that writes broken records on purpose marks its tree


def pytest_sessionfinish(session, exitstatus):
    """Every status.json the tests produced (mlci runs in scratch repos, fixtures made through the
    transitions) must validate against the shipped schema: the record is a contract."""
    import json

    import jsonschema

    from mlci.record.schema import SHIPPED

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or exitstatus not in (0, 1):
        return
    base = factory.getbasetemp()
    validator = jsonschema.Draft202012Validator(json.loads(SHIPPED.read_text()))
    invalid, checked = [], 0
    for path in base.rglob("status.json"):
        if path.is_symlink() or any((parent / BAD_RECORDS_MARKER).exists() for parent in path.parents):
            continue
        if path.parent.parent.parent.name != "runs":  # <runs>/<project>/<job>/status.json only
            continue
        checked += 1
        try:
            errors = [e.message for e in validator.iter_errors(json.loads(path.read_text()))]
        except ValueError as exc:
            errors = [f"not JSON: {exc}"]
        if errors:
            invalid.append(f"{path}: {errors[0][:200]}")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"run records checked against the shipped schema: {checked}, invalid: {len(invalid)}")
        for line in invalid[:20]:
            reporter.write_line(f"INVALID RECORD {line}")
    if invalid:
        session.exitstatus = 1
