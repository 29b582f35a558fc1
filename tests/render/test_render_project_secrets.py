"""A project's secrets become Jenkins credentials: casc.yaml string credential, Docker
secret of the Jenkins service, and a secret file Ansible installs — the same chain as the manifest's
own secrets, so `secrets: [HF_TOKEN]` works on the host as it does on a laptop."""

from __future__ import annotations

import shutil
from pathlib import Path

from render_support import by_path, parse

from mlci.render import plan

HERE = Path(__file__).parent


def scratch(tmp_path: Path, secrets: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(HERE / "scenarios" / "one-host", root, ignore=shutil.ignore_patterns("expected"))
    for name, text in secrets.items():
        (root / "projects" / name).mkdir(parents=True, exist_ok=True)
        (root / "projects" / name / "project.yaml").write_text(text)
    return root


def test_project_secrets_become_credentials_compose_secrets_and_ansible_files(tmp_path: Path) -> None:
    root = scratch(tmp_path, {"vision": "gpus: 2\nsecrets: [HF_TOKEN, DATA_KEY]\n", "digits": "secrets: [HF_TOKEN]\n"})
    files = by_path(plan(root))
    casc = parse(files["jenkins/casc.yaml"])
    strings = {
        c["string"]["id"]: c["string"]
        for c in casc["credentials"]["system"]["domainCredentials"][0]["credentials"]
        if "string" in c
    }
    assert strings["HF_TOKEN"]["secret"] == "${HF_TOKEN}"
    assert strings["HF_TOKEN"]["description"] == "Secret of project digits, vision (bound around mlci run)"
    assert strings["DATA_KEY"]["secret"] == "${DATA_KEY}"
    compose = parse(files["compose/docker-compose.yml"])
    assert {"HF_TOKEN", "DATA_KEY"} <= set(compose["services"]["jenkins"]["secrets"])
    assert compose["secrets"]["HF_TOKEN"] == {"file": "../secrets/HF_TOKEN"}
    group_vars = parse(files["ansible/group_vars/all.yml"])
    assert {"name": "HF_TOKEN", "service": "jenkins", "owner_uid": 1000} in group_vars["mlci_secrets"]


def test_a_secret_the_manifest_already_has_is_rendered_once(tmp_path: Path) -> None:
    root = scratch(tmp_path, {"vision": "secrets: [MLCI_WEBHOOK_TOKEN]\n"})
    casc = by_path(plan(root))["jenkins/casc.yaml"].content
    assert casc.count("id: MLCI_WEBHOOK_TOKEN") == 1, casc
