"""What rendering needs beyond a valid manifest, reported like schema errors (file:line:col)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mlci import __version__
from mlci.errors import Problem
from mlci.manifest.fields import NAME_RE
from mlci.manifest.loader import PROJECT_FILE, PROJECTS_DIR
from mlci.manifest.schema import Manifest
from mlci.manifest.yamlsource import KeyPath, YamlSource, format_path
from mlci.render.distribution import version_warning
from mlci.render.model import BUILD_LABEL, gpu_label


def render_problems(manifest: Manifest, source: YamlSource | None) -> list[Problem]:
    problems: list[Problem] = []

    def add(path: KeyPath, message: str) -> None:
        if source is not None:
            problems.append(source.problem(path, message))
        else:
            problems.append(Problem("mlci.yaml", 1, 1, format_path(path), message))

    if manifest.repository is None:
        add(
            ("repository",),
            "mlci render needs the repository Jenkins clones — add `repository: {url: https://…/repo.git}`",
        )
    for key, example in (("home", "/srv/mlci/jenkins_home"), ("runs_dir", "/srv/mlci/runs")):
        value = getattr(manifest.jenkins, key)
        if not _absolute_below_root(value):
            add(
                ("jenkins", key),
                f"must be an absolute path below / (got {value!r}) — e.g. {example};"
                " it is mounted at the same path inside the container",
            )
    mlflow = manifest.tracking.mlflow
    if mlflow is not None and mlflow.server.enabled and not _absolute_below_root(mlflow.server.data_dir):
        add(
            ("tracking", "mlflow", "server", "data_dir"),
            f"must be an absolute path below / (got {mlflow.server.data_dir!r}) — e.g. /srv/mlci/mlflow;"
            " the MLflow server keeps its database and artifacts there on the host",
        )
    for name, store in sorted(manifest.artifacts.stores.items()):
        path = store.path or ""
        # an absolute path is mounted at the same path in the controller; `..` has no place on a host
        if store.type == "local" and (".." in path.split("/") or (path.startswith("/") and not path.strip("/"))):
            add(
                ("artifacts", "stores", name, "path"),
                f"must be a directory without '..', not / (got {path!r}) — use an absolute host path such as"
                " /srv/mlci/artifacts; it is mounted at the same path inside the controller",
            )
    lib = manifest.jenkins.library.path
    if lib.startswith(("/", "~")) or ".." in lib.split("/"):
        add(
            ("jenkins", "library", "path"),
            f"must be a path inside the repository (got {lib!r}) — e.g. jenkins/library",
        )
    frp = manifest.webhook.frp
    if frp is not None and not frp.custom_domain:
        add(
            ("webhook", "frp"),
            "the webhook proxy needs its own public host name — set webhook.frp.custom_domain"
            " (jenkins.url stays your internal Jenkins URL: frps forwards only the webhook paths)",
        )
    elif frp is not None and manifest.jenkins.url and urlsplit(manifest.jenkins.url).hostname == frp.custom_domain:
        add(
            ("webhook", "frp", "custom_domain"),
            f"'{frp.custom_domain}' is also jenkins.url's host, but frps forwards only the webhook paths, so build"
            " links would 404 — give the webhook its own name, e.g. hooks.<your domain>",
        )
    for i, host in enumerate(manifest.hosts):
        for j, label in enumerate(host.labels):
            if label.startswith("gpu@") or label in ("gpu", BUILD_LABEL):
                add(
                    ("hosts", i, "labels", j),
                    f"'{label}' is reserved: mlci sets the build and GPU labels itself — remove it"
                    f" (this host's GPUs are '{gpu_label(host.name)}')",
                )
    return problems


def _absolute_below_root(path: str) -> bool:
    return path.startswith("/") and ".." not in path.split("/") and path.strip("/") != ""


def project_name_problems(names: list[str]) -> list[Problem]:
    """Project directory names become Jenkins job names and Groovy values: the schema's rule applies."""
    return [
        Problem(
            f"{PROJECTS_DIR}/{name}/{PROJECT_FILE}",
            1,
            1,
            "",
            "invalid project directory name — rename it to lowercase letters, digits and dashes (at most 63 characters)",
        )
        for name in names
        if not re.fullmatch(NAME_RE, name)
    ]


# ---- warnings `mlci validate` prints (exit 0): the pinned mlci, addresses beyond loopback

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def adoption_warnings(manifest: Manifest, source: YamlSource | None) -> list[str]:
    found: list[tuple[KeyPath, str]] = []
    version = version_warning(manifest)
    if version:
        found.append((("mlci", "version") if manifest.mlci else (), version))
    mlflow = manifest.tracking.mlflow
    published = [
        ("jenkins", manifest.jenkins.bind, True),
        ("portainer", manifest.portainer.bind, manifest.portainer.enabled),
    ]
    if mlflow is not None:
        published.append(("tracking.mlflow.server", mlflow.server.bind, mlflow.server.enabled))
    published.append(("dashboard", manifest.dashboard.bind, manifest.dashboard.enabled))
    for section, bind, enabled in published:
        if enabled and bind not in LOOPBACK:
            found.append(
                (
                    (*section.split("."), "bind"),
                    f"{section} is published on {bind}, reachable beyond this host — keep 127.0.0.1 and use an"
                    " SSH tunnel (README: Reaching the stack), or firewall that address",
                )
            )
    if manifest.hosts:
        for name, store in sorted(manifest.artifacts.stores.items()):
            if store.type == "local" and store.path and not store.path.startswith("/"):
                found.append(
                    (
                        ("artifacts", "stores", name, "path"),
                        f"the local store '{name}' has the relative path {store.path!r}: on Jenkins it resolves"
                        " inside the job's workspace (one per executor, wiped with it) — use an absolute host"
                        " path such as /srv/mlci/artifacts, writable by Jenkins and the agents",
                    )
                )
    out = []
    for path, message in found:
        if source is not None and path:
            p = source.problem(path, message)
            out.append(f"warning: {p}")
        else:
            out.append(f"warning: mlci.yaml: {format_path(path) + ': ' if path else ''}{message}")
    return out


def pin_problems(manifest: Manifest, source: YamlSource | None) -> list[Problem]:
    """`mlci render` writes the library and playbook of the running mlci: with another pinned, the
    repository would mix versions, so rendering stops (validate only warns)."""
    pin = manifest.mlci
    if pin is None or pin.version == __version__:
        return []
    message = (
        f"pins mlci {pin.version} but this is mlci {__version__}, whose Jenkins library and playbook"
        f" `mlci render` would write — run `pip install mlci=={pin.version}`, or change the pin to upgrade"
    )
    path: KeyPath = ("mlci", "version")
    return [source.problem(path, message) if source else Problem("mlci.yaml", 1, 1, format_path(path), message)]
