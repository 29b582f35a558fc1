"""`mlci render`: every file the servers run, generated from mlci.yaml (see DESIGN.md, Rendering).

`plan(root)` returns the files and their exact contents; `mlci.render.output` compares them with
what is on disk and writes them. Nothing here reads a secret value: only names are rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlci.errors import ConfigError
from mlci.manifest.loader import MANIFEST_FILE, load_manifest, project_names, validate_source
from mlci.manifest.schema import Manifest
from mlci.manifest.yamlsource import YamlSource, load_yaml
from mlci.render import ansible, compose, github, jenkins, mlflow_server, webhook_proxy
from mlci.render.checks import pin_problems, project_name_problems, render_problems
from mlci.render.library import render_library, render_playbook
from mlci.render.model import (
    DEPLOY_JENKINSFILE,
    EXPERIMENT_JENKINSFILE,
    PROJECT_JENKINSFILE,
    PROMOTE_JENKINSFILE,
    Facts,
    derive,
)
from mlci.render.project_secrets import with_project_secrets
from mlci.render.templating import render_template

FRPS_EXAMPLE = "compose/frps.example.toml"
# Jenkinsfiles Jenkins reads from the repository (cpsScm), not files of the host's stack
PIPELINES = (PROJECT_JENKINSFILE, EXPERIMENT_JENKINSFILE, PROMOTE_JENKINSFILE, DEPLOY_JENKINSFILE)


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to the output root, with forward slashes
    content: str
    create_only: bool = False  # written when missing, then owned by the user (the root Jenkinsfile)


def load_for_render(root: Path) -> Facts:
    """The manifest, validated for rendering, and the project names; ConfigError lists every problem."""
    source = load_yaml(root / MANIFEST_FILE, MANIFEST_FILE) if (root / MANIFEST_FILE).exists() else None
    return with_project_secrets(facts_from(source, project_names(root), default_root=root), root)


def facts_from(source: YamlSource | None, projects: list[str], default_root: Path | None = None) -> Facts:
    if source is not None:
        manifest: Manifest = validate_source(source, Manifest)
    else:
        manifest = load_manifest(default_root or Path.cwd())
    problems = render_problems(manifest, source) + project_name_problems(projects) + pin_problems(manifest, source)
    if problems:
        raise ConfigError(problems)
    return derive(manifest, projects)


def plan(root: Path) -> list[RenderedFile]:
    return plan_for(load_for_render(root), root)


def plan_for(facts: Facts, root: Path) -> list[RenderedFile]:
    files = [
        RenderedFile("jenkins/casc.yaml", jenkins.render_casc(facts)),
        RenderedFile("jenkins/plugins.txt", jenkins.render_plugins(facts)),
        RenderedFile("jenkins/Dockerfile", jenkins.render_dockerfile(facts)),
        RenderedFile("jenkins/.dockerignore", jenkins.render_dockerignore(facts)),
        RenderedFile(f"jenkins/{jenkins.INSTALL_PLUGINS}", jenkins.render_install_plugins(facts)),
        RenderedFile(PROJECT_JENKINSFILE, jenkins.render_project_jenkinsfile(facts)),
        RenderedFile(EXPERIMENT_JENKINSFILE, jenkins.render_experiment_jenkinsfile(facts)),
        RenderedFile("compose/docker-compose.yml", compose.render_compose(facts)),
    ]
    if facts.manifest.environments:  # the mlci-promote and mlci-deploy jobs' pipelines
        files.insert(-1, RenderedFile(PROMOTE_JENKINSFILE, jenkins.render_promote_jenkinsfile(facts)))
        files.insert(-1, RenderedFile(DEPLOY_JENKINSFILE, jenkins.render_deploy_jenkinsfile(facts)))
    if mlflow_server.server(facts) is not None:
        files.append(RenderedFile(f"{mlflow_server.CONTEXT}/Dockerfile", mlflow_server.render_dockerfile(facts)))
        files.append(RenderedFile(f"{mlflow_server.CONTEXT}/.dockerignore", mlflow_server.render_dockerignore(facts)))
    if facts.manifest.webhook.frp:
        files.append(RenderedFile("compose/frpc.toml", compose.render_frpc(facts)))
        # The team runs frps on its public machine: an example of that side, never copied to the host.
        files.append(RenderedFile(FRPS_EXAMPLE, compose.render_frps_example(facts)))
        files.append(RenderedFile(webhook_proxy.NGINX_EXAMPLE, webhook_proxy.render_nginx_example(facts)))
    files += [
        RenderedFile(".github/workflows/release-trigger.yml", github.render_release_trigger(facts)),
        RenderedFile(".github/workflows/ci.yml", github.render_ci(facts, root)),
        RenderedFile("ansible/inventory.yml", ansible.render_inventory(facts)),
        RenderedFile(
            "Jenkinsfile",
            render_template("Jenkinsfile.j2"),
            create_only=True,
        ),
    ]
    # The shared library at the pinned version, where casc.yaml tells Jenkins to load it from.
    library = render_library(root, facts.manifest.jenkins.library.path)
    files[-1:-1] = [RenderedFile(path, content) for path, content in library.items()]
    # The playbook and roles at the pinned version, next to the inventory rendered for them.
    files[-1:-1] = [RenderedFile(path, content) for path, content in render_playbook(root).items()]
    stack = [
        f.path
        for f in files
        if f.path.startswith(("compose/", "jenkins/"))
        and f.path not in (*PIPELINES, FRPS_EXAMPLE, webhook_proxy.NGINX_EXAMPLE)
        and f.path not in library
    ]
    files.insert(-1, RenderedFile("ansible/group_vars/all.yml", ansible.render_group_vars(facts, stack)))
    return files
