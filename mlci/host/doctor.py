"""`mlci doctor`: diagnose a host, one line per check, each failure with its fix.

Required checks (Docker, base image, cache disk, manifest, and Jenkins once it is configured
with a token) make the command exit 1; GPU and secret checks are advisory on a workstation and
required with `--strict` (what a GPU host's Jenkins agent runs).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlci import secrets
from mlci.errors import ConfigError, MlciError
from mlci.host import gpu_checks as doctor_gpu
from mlci.host.checks import Check

# docker-py (with requests, ~0.3 s) is imported in the functions that talk to the engine, so that
# commands which never do (`mlci --help`, validate, status) do not pay for it; tests/test_layout.py checks.
from mlci.host.dashboard_check import dashboard_check
from mlci.host.mlflow_check import mlflow_check
from mlci.manifest import load_all
from mlci.manifest.schema import DEFAULT_BASE_IMAGE
from mlci.release.jenkins import connect as connect_jenkins_default
from mlci.runner.engine import DockerUnreachable
from mlci.runner.gpus import inventory_from_file

MIN_DOCKER_API = (1, 41)  # device requests (--gpus) and the API mlci's runner speaks
DEFAULT_PLUGINS = ("configuration-as-code", "workflow-aggregator", "git", "credentials-binding", "job-dsl")


# ---------------------------------------------------------------- Docker and GPUs
def docker_checks(connect: Callable[[], Any], base_image: str, *, strict: bool) -> list[Check]:
    try:
        client = connect()
        version = client.version()
        info = client.info()
    except Exception as exc:
        reason = exc.reason if isinstance(exc, DockerUnreachable) else _first_line(exc)
        return [
            Check(
                "Docker engine",
                False,
                f"not reachable ({secrets.redact(reason)})",
                "start Docker (`sudo systemctl start docker`), add yourself to the docker group, or set DOCKER_HOST",
            ),
            Check("NVIDIA runtime", None, "skipped: Docker is not reachable", required=strict),
            Check("base image", None, "skipped: Docker is not reachable"),
        ]
    api = str(version.get("ApiVersion", "0.0"))
    api_ok = tuple(int(p) for p in api.split(".")[:2]) >= MIN_DOCKER_API
    engine = Check(
        "Docker engine",
        api_ok,
        f"{version.get('Version', '?')} (API {api})",
        f"upgrade Docker to a version with API >= {'.'.join(map(str, MIN_DOCKER_API))} (20.10 or newer)",
    )
    runtimes = sorted((info.get("Runtimes") or {}).keys())
    nvidia = "nvidia" in runtimes
    runtime = Check(
        "NVIDIA runtime",
        nvidia,
        "nvidia runtime registered with Docker" if nvidia else f"not in `docker info` runtimes ({', '.join(runtimes)})",
        "install the NVIDIA Container Toolkit and run `sudo nvidia-ctk runtime configure --runtime=docker`",
        required=strict,
    )
    return [engine, runtime, base_image_check(client, base_image)]


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def base_image_check(client: Any, base_image: str) -> Check:
    import docker.errors

    try:
        image = client.images.get(base_image)
    except docker.errors.ImageNotFound:
        return Check(
            "base image",
            False,
            f"{base_image} is not on this host",
            f"build it offline: `mlci base-image build --tag {base_image}`",
        )
    return Check("base image", True, f"{base_image} ({image.short_id})")


def expected_gpus(manifest: Any, host: str | None) -> int | None:
    """The GPU count mlci.yaml declares for this host (by --host, else the short hostname)."""
    if manifest is None:
        return None
    name = host or socket.gethostname().split(".")[0]
    for entry in manifest.hosts:
        if entry.name == name:
            return entry.gpus
    return None


# ---------------------------------------------------------------- disk, manifest, secrets
def disk_check(path: Path, min_free_gb: float) -> Check:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1024**3
    return Check(
        "cache disk",
        free_gb >= min_free_gb,
        f"{free_gb:.1f} GiB free for {path} (need {min_free_gb:g})",
        "free space, or move the cache with MLCI_CACHE_DIR",
    )


def manifest_check(root: Path) -> tuple[Check, Any]:
    try:
        manifest, projects = load_all(root)
    except ConfigError as exc:
        problems = exc.problems
        first = str(problems[0])
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check("manifest", False, f"{first}{more}", "run `mlci validate` for every problem"), None
    except MlciError as exc:
        return Check("manifest", False, str(exc)), None
    return Check("manifest", True, f"{manifest.name}: mlci.yaml and {len(projects)} project(s) valid"), manifest


def secrets_check(names: list[str], *, strict: bool) -> Check:
    missing = [n for n in names if not secrets.is_present(n)]
    if missing:
        return Check(
            "secrets",
            False,
            f"missing {', '.join(missing)} (of {len(names)})",
            f"export them or put them in {secrets.secrets_dir()}/<NAME>",
            required=strict,
        )
    return Check("secrets", True, f"all {len(names)} present: {', '.join(names)}", required=strict)


# ---------------------------------------------------------------- Jenkins
def required_plugins(root: Path) -> list[str]:
    """The plugins the rendered controller installs (jenkins/plugins.txt), else a core set."""
    listing = root / "jenkins" / "plugins.txt"
    if listing.is_file():
        names = [line.split(":", 1)[0].strip() for line in listing.read_text().splitlines()]
        return [n for n in names if n and not n.startswith("#")]
    return list(DEFAULT_PLUGINS)


def jenkins_check(manifest: Any, root: Path, connect: Callable[[Any], Any]) -> Check:
    url = os.environ.get("MLCI_JENKINS_URL") or manifest.jenkins.url
    if not url:
        return Check("Jenkins", None, "skipped: jenkins.url is not set")
    if not secrets.is_present(manifest.jenkins.api_token):
        return Check("Jenkins", None, f"skipped: no API token in secret {manifest.jenkins.api_token}")
    try:
        client = connect(manifest)
        version = client.version()
        installed = client.plugins()
    except MlciError as exc:
        return Check("Jenkins", False, secrets.redact(exc.message), secrets.redact(exc.hint or ""))
    missing = [p for p in required_plugins(root) if p not in installed]
    if missing:
        return Check(
            "Jenkins",
            False,
            f"{url} {version} lacks plugins: {', '.join(missing)}",
            "rebuild the controller image from the rendered jenkins/plugins.txt",
        )
    return Check("Jenkins", True, f"{url} {version}, required plugins present")


# ---------------------------------------------------------------- all together
def run_checks(
    root: Path,
    *,
    strict: bool,
    min_free_gb: float,
    cache_path: Path,
    connect_docker: Callable[[], Any],
    probe_gpus: Callable[[], doctor_gpu.Smi] = doctor_gpu.query_smi,
    driver_versions: Callable[[], tuple[str | None, str | None]] = lambda: (
        doctor_gpu.module_version(),
        doctor_gpu.library_version(),
    ),
    host: str | None = None,
    connect_jenkins: Callable[[Any], Any] | None = None,
) -> list[Check]:
    manifest_result, manifest = manifest_check(root)
    if manifest is not None:
        secrets.remember_all(manifest.secret_names())
    base_image = manifest.build.base_image if manifest is not None else DEFAULT_BASE_IMAGE
    checks = docker_checks(connect_docker, base_image, strict=strict)
    expected = expected_gpus(manifest, host)
    smi = probe_gpus()
    module, library = driver_versions() if smi.installed else (None, None)
    recorded = inventory_from_file()
    checks[2:2] = doctor_gpu.gpu_checks(
        smi,
        strict=strict,
        expected=expected,
        module=module,
        library=library,
        recorded=[g.uuid for g in recorded] if recorded is not None else None,
    )
    # A real GPU container wherever GPUs are expected or seen (docker info's runtime list is not proof).
    if checks[0].ok is not None and (strict or expected or smi.installed):
        user = f"{os.getuid()}:{os.getgid()}"
        checks.append(doctor_gpu.container_check(connect_docker(), base_image, user, expected=expected, strict=strict))
    checks += [disk_check(cache_path, min_free_gb), manifest_result]
    if manifest is not None:
        checks.append(secrets_check(manifest.secret_names(), strict=strict))
        checks.append(jenkins_check(manifest, root, connect_jenkins or connect_jenkins_default))
        ok, detail, fix = mlflow_check(manifest)
        if ok is not None:
            checks.append(Check("MLflow", ok, detail, fix))
        if manifest.dashboard.enabled:
            checks.append(dashboard_check(manifest))
    return checks
