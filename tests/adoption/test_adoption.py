"""A team adopts mlci, with every real part that runs here (issue 10's proof):

1. mlci's wheel is built and served from a package index on 127.0.0.1 (dependencies: the normal index);
2. a scratch Git repository that is not mlci's (own pyproject.toml, Makefile, src/) and a fresh venv
   install `mlci==<version>` from that index;
3. `mlci init`, `mlci new` twice, `mlci validate`, `mlci render`, commit; the library that casc.yaml
   names exists in the scratch repository at the ref it names;
4. Debian's docker-compose v1 validates the stack with the `.env` Ansible writes and builds the
   controller image against stand-in base images; the image has the pinned mlci, the stores'
   clients and casc.yaml where CASC_JENKINS_CONFIG says, and no file of jenkins_home/ or secrets/;
5. the commands of the rendered ci.yml run in the scratch repository against the local index.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from adoption_support import build_wheel, docker, layer_paths, package_index, stand_in_images

from mlci import __version__

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SENTINEL = "adoption-sentinel-7f3a"
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


def sh(command: str, cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("adoption")
    wheel, sdist = build_wheel(work / "dist")
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


def test_the_team_installs_the_pinned_mlci_from_the_index(adopted) -> None:
    assert adopted["installed"].strip() == f"mlci, version {__version__}"


def test_init_new_validate_render_in_a_repo_that_is_not_mlcis(adopted) -> None:
    repo: Path = adopted["repo"]
    assert "next:" in adopted["init"]
    validated = adopted["validated"]
    assert validated.returncode == 0 and "3 project(s): example, speech, vision" in validated.stdout
    assert "warning" not in validated.stderr  # the pinned mlci is the one running
    assert (repo / "pyproject.toml").read_text().startswith('[project]\nname = "teamapp"')
    # the library JCasC loads exists in the scratch repository at the ref and path casc.yaml names
    casc = yaml.safe_load((repo / "jenkins/casc.yaml").read_text())
    (library,) = casc["unclassified"]["globalLibraries"]["libraries"]
    ref, path = library["defaultVersion"], library["retriever"]["modernSCM"]["libraryPath"]
    assert library["retriever"]["modernSCM"]["scm"]["git"]["remote"] == "https://github.com/team/ml.git"
    for step in ("vars/mlciRelease.groovy", "vars/mlciTrain.groovy", "src/mlci/GpuLease.groovy"):
        shown = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:{path}{step}"], capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.startswith("// generated by mlci") and f"mlci {__version__}" in shown.stdout.splitlines()[0]
    assert "@Library('mlci') _" in (repo / "Jenkinsfile").read_text()


def test_the_rendered_ci_workflow_passes_in_the_team_repo(adopted) -> None:
    runs = adopted["ci"]
    assert list(runs) == [
        "Install",
        "Lint",
        "Unit tests",
        "Validate the manifest and projects",
        "Rendered files are up to date",
    ]
    for name, done in runs.items():
        assert done.returncode == 0, f"{name}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    assert "1 passed" in runs["Unit tests"].stdout  # the team's own tests ran
    assert "rendered files are up to date" in runs["Rendered files are up to date"].stdout


def test_compose_v1_accepts_the_stack_with_the_env_ansible_writes(adopted) -> None:
    config = adopted["config"]
    assert config.returncode == 0, config.stderr
    services = yaml.safe_load(config.stdout)["services"]
    assert Path(services["jenkins"]["build"]["context"]) == adopted["stack"] / "jenkins"
    assert services["jenkins"]["group_add"] == [str(os.stat("/var/run/docker.sock").st_gid)]


def test_compose_v1_builds_the_controller_image_with_the_pinned_mlci(adopted) -> None:
    built = adopted["built"]
    assert built.returncode == 0, built.stdout[-5000:] + built.stderr[-5000:]
    image = adopted["image"]
    version = docker("run", "--rm", "--network", "none", "--entrypoint", "mlci", image, "--version")
    assert version.stdout.strip() == f"mlci, version {__version__}", version.stderr
    # the stores' clients (s3, hub) and the Jenkins client import in the image's mlci
    imports = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/opt/mlci/bin/python",
        image,
        "-c",
        "import boto3, huggingface_hub, jenkins",
    )
    assert imports.returncode == 0, imports.stderr
    env = docker("image", "inspect", "--format", "{{json .Config.Env}}", image)
    casc_path = next(e.split("=", 1)[1] for e in yaml.safe_load(env.stdout) if e.startswith("CASC_JENKINS_CONFIG="))
    casc = docker("run", "--rm", "--network", "none", "--entrypoint", "cat", image, casc_path)
    assert casc.stdout == (adopted["repo"] / "jenkins/casc.yaml").read_text()
    plugins = docker("run", "--rm", "--network", "none", "--entrypoint", "ls", image, "/usr/share/jenkins/ref/plugins")
    assert "lockable-resources.jpi.pinned" in plugins.stdout.split()


def test_no_file_of_the_jenkins_home_or_the_secrets_is_in_any_layer(adopted) -> None:
    assert adopted["built"].returncode == 0
    paths = layer_paths(adopted["image"], adopted["work"])
    assert paths  # the layers were read
    # the files planted in the stack root and in jenkins/ (the build context), and the secret files
    group_vars = yaml.safe_load((adopted["repo"] / "ansible/group_vars/all.yml").read_text())
    secrets = {s["name"] for s in group_vars["mlci_secrets"]}
    planted = ("jenkins_home/secret.key", "jenkins_home/config.xml", "secrets/token", ".env")
    leaked = [p for p in paths if p.endswith(planted) or p.rsplit("/", 1)[-1] in secrets]
    assert leaked == []
    assert any(p.endswith("etc/mlci/casc.yaml") for p in paths)  # what the context must carry did arrive
    grep = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "root",
        "--entrypoint",
        "grep",
        adopted["image"],
        "-rl",
        SENTINEL,
        "/etc",
        "/opt/mlci/lib",
        "/usr/share/jenkins",
        "/var/jenkins_home",
    )
    assert grep.returncode == 1 and grep.stdout == "", grep.stdout + grep.stderr  # grep: 1 = nothing found
