"""What rendering needs beyond a valid manifest, reported like schema errors (file:line:col)."""

from __future__ import annotations

import re

from mlci.errors import Problem
from mlci.manifest.loader import PROJECT_FILE, PROJECTS_DIR
from mlci.manifest.schema import NAME_RE, Manifest
from mlci.manifest.yamlsource import KeyPath, YamlSource, format_path
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
    home = manifest.jenkins.home
    if not home.startswith("/") or "/../" in f"{home}/" or home.rstrip("/") == "":
        add(
            ("jenkins", "home"),
            f"must be an absolute path below / (got {home!r}) — e.g. /srv/mlci/jenkins_home;"
            " it is mounted at the same path inside the container",
        )
    lib = manifest.jenkins.library.path
    if lib.startswith(("/", "~")) or ".." in lib.split("/"):
        add(
            ("jenkins", "library", "path"),
            f"must be a path inside the repository (got {lib!r}) — e.g. jenkins/library",
        )
    frp = manifest.webhook.frp
    if frp is not None and not frp.custom_domain and not manifest.jenkins.url:
        add(
            ("webhook", "frp"),
            "the webhook proxy needs a public host name — set webhook.frp.custom_domain or jenkins.url",
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
