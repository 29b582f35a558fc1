"""Project secrets as Jenkins credentials.

A project's `secrets: [HF_TOKEN]` must reach Jenkins like the manifest's own secrets do: a string
credential of the same name in casc.yaml, the value installed by Ansible as a secret file and
handed to the Jenkins container as a Docker secret — the chain every other Jenkins secret follows.
The library binds it around that project's `mlci run` only. Kept apart from model.derive, which
covers the manifest; this adds what the projects declare.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mlci.errors import ConfigError
from mlci.manifest.loader import load_project
from mlci.render.model import JENKINS_UID, Credential, Facts, Secret


def project_secret_names(root: Path, projects: list[str]) -> dict[str, list[str]]:
    """Secret name → the projects that declare it (ConfigError from an invalid project.yaml)."""
    wanted: dict[str, list[str]] = {}
    problems = []
    for name in projects:
        try:
            config = load_project(root, name).config
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for secret in config.secrets:
            wanted.setdefault(secret, []).append(name)
    if problems:
        raise ConfigError(problems)
    return dict(sorted(wanted.items()))


def with_project_secrets(facts: Facts, root: Path) -> Facts:
    """`facts` plus a string credential and a Jenkins secret for each project secret not already known."""
    known = {c.id for c in facts.credentials}
    credentials = list(facts.credentials)
    secrets = list(facts.secrets)
    for secret, users in project_secret_names(root, facts.projects).items():
        if secret in known:
            continue
        credentials.append(
            Credential(secret, "string", f"Secret of project {', '.join(users)} (bound around mlci run)")
        )
        secrets.append(Secret(secret, "jenkins", JENKINS_UID))
    return replace(facts, credentials=credentials, secrets=secrets)
