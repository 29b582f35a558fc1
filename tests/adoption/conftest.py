"""The scratch monorepo a team adopts mlci in, shared by the adoption tests (see test_adoption.py)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from adoption_support import SENTINEL, docker, ok, package_index, sh, stand_in_images

from mlci import __version__

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

TEAM_SETTINGS = """\
build:
  base_image: mlci/python:3.11-bookworm
  ca_bundle: certs/ca.pem            # the team's TLS proxy CA: trusted by pip in the controller image
  network: host                      # the package index is on this machine's 127.0.0.1
artifacts:
  default: local
  stores:
    local: {type: local, path: .mlci/artifacts}
    s3: {type: s3, bucket: team-models, access_key_id: AWS_ACCESS_KEY_ID, secret_access_key: AWS_SECRET_ACCESS_KEY}
    hub: {type: huggingface, repo: team/models, token: HF_TOKEN}
webhook:
  frp: {server: frps.team.example, token: FRP_TOKEN, custom_domain: hooks.team.example}
"""


@pytest.fixture(scope="session")
def adopted(tmp_path_factory: pytest.TempPathFactory, mlci_dists: tuple[Path, Path]):
    work = tmp_path_factory.mktemp("adoption")
    wheel, sdist = mlci_dists
    assert wheel.name == f"mlci-{__version__}-py3-none-any.whl"
    with package_index(wheel, sdist) as index:
        # 2. the team's repository and a fresh venv with mlci from the index
        repo = work / "team-ml"
        (repo / "src" / "teamapp").mkdir(parents=True)
        (repo / "tests").mkdir()
        (repo / "certs").mkdir()
        (repo / "pyproject.toml").write_text('[project]\nname = "teamapp"\nversion = "7.1"\n')
        (repo / "Makefile").write_text("test:\n\tpytest\n")
        (repo / "src" / "teamapp" / "__init__.py").write_text('"""The team\'s own code."""\n')
        (repo / "tests" / "test_teamapp.py").write_text("def test_truth():\n    assert 1 + 1 == 2\n")
        shutil.copyfile(CA_BUNDLE, repo / "certs" / "ca.pem")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLCI_", "VIRTUAL_ENV", "PYTHON"))}
        env.update(GIT_AUTHOR_NAME="team", GIT_AUTHOR_EMAIL="t@team.example", GIT_COMMITTER_NAME="team")
        env["GIT_COMMITTER_EMAIL"] = "t@team.example"
        ok(sh("git init -q -b main && git remote add origin https://github.com/team/ml.git", repo, env))
        venv = work / "venv"
        ok(sh(f"python3 -m venv {venv}", repo, env))
        env["PATH"] = f"{venv}/bin:{env['PATH']}"
        installed = ok(sh(f"pip install -q --index-url {index} 'mlci=={__version__}' && mlci --version", repo, env))

        # 3. init, new twice, validate, render, commit
        init_out = ok(sh("mlci init", repo, env))
        manifest = (repo / "mlci.yaml").read_text()
        manifest = manifest.replace(
            f'mlci: {{version: "{__version__}"}}', f'mlci: {{version: "{__version__}", index_url: "{index}"}}'
        )
        manifest = manifest[: manifest.index("build:\n")] + TEAM_SETTINGS
        (repo / "mlci.yaml").write_text(manifest)
        ok(sh("mlci new vision && mlci new speech", repo, env))
        validated = sh("mlci validate", repo, env)
        ok(sh("mlci render", repo, env))
        ok(sh("git add -A && git commit -qm 'Adopt mlci'", repo, env))

        # 5. the rendered ci.yml, step by step, against the local index (the venv is the runner's Python)
        ci = yaml.safe_load((repo / ".github/workflows/ci.yml").read_text())
        ci_runs = {step["name"]: sh(step["run"], repo, env) for step in ci["jobs"]["checks"]["steps"] if "run" in step}

        # 4. the controller image, the way Ansible's mlci_stack lays out and starts the stack
        group_vars = yaml.safe_load((repo / "ansible/group_vars/all.yml").read_text())
        stack = work / "stack"
        for rel in group_vars["mlci_stack_files"]:
            (stack / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo / rel, stack / rel)
        shutil.copyfile(repo / group_vars["mlci_ca_bundle"], stack / "jenkins" / "ca-bundle.crt")
        for secret in group_vars["mlci_secrets"]:
            (stack / "secrets").mkdir(exist_ok=True)
            (stack / "secrets" / secret["name"]).write_text(f"{SENTINEL}-secret-value")
        # what must never reach the image: the Jenkins home, the secrets, .env, stray files in jenkins/
        for leak in ("jenkins_home/secret.key", "jenkins/jenkins_home/config.xml", "jenkins/secrets/token"):
            (stack / leak).parent.mkdir(parents=True, exist_ok=True)
            (stack / leak).write_text(SENTINEL)
        project = f"mlci-adopt-{uuid.uuid4().hex[:8]}"
        (stack / "compose" / ".env").write_text(
            f"# Written by Ansible (mlci_stack)\nCOMPOSE_PROJECT_NAME={project}\nDOCKER_GID={os.stat('/var/run/docker.sock').st_gid}\n"
        )
        compose_env = {**env, "COMPOSE_PROJECT_NAME": project}
        config = sh("docker-compose config", stack / "compose", compose_env, timeout=120)
        stand_ins = stand_in_images(work, "mlci-adoption")
        args = " ".join(f"--build-arg {k}={v}" for k, v in stand_ins.items())
        image = f"mlci-{group_vars['mlci_name']}-jenkins:local"
        built = sh(f"docker-compose build {args} jenkins", stack / "compose", compose_env)
        try:
            yield {
                "repo": repo,
                "stack": stack,
                "index": index,
                "installed": installed,
                "init": init_out,
                "validated": validated,
                "ci": ci_runs,
                "config": config,
                "built": built,
                "image": image,
                "work": work,
                "env": env,
            }
        finally:
            docker("image", "rm", "-f", image)
