"""testinfra against the host site.yml provisioned: Docker, daemon.json, users, /srv/mlci, secrets."""

import json
from pathlib import Path

import pytest
import yaml
from infra_checkout import AGENT_USER, JENKINS_UID, MLCI_ROOT, README_MARKER, SECRETS, SERVICE_USER, STACK_FILES

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_distribution_docker_is_installed_and_running_under_systemd(test_host):
    assert test_host.package("docker.io").is_installed
    assert test_host.package("docker-compose").is_installed
    docker = test_host.service("docker")
    assert docker.is_running
    assert docker.is_enabled


def test_daemon_json_has_the_log_rotation_defaults_and_no_gpu_runtime(test_host):
    daemon = test_host.file("/etc/docker/daemon.json")
    assert daemon.user == "root" and daemon.mode == 0o644
    options = json.loads(daemon.content_string)
    assert options["log-driver"] == "json-file"
    assert options["log-opts"] == {"max-size": "50m", "max-file": "5"}
    assert "runtimes" not in options  # the no-GPU path: no NVIDIA runtime


def test_gpu_roles_took_their_no_gpu_path(test_host):
    assert not test_host.package("nvidia-container-toolkit").is_installed
    assert not test_host.file("/etc/apt/sources.list.d/nvidia-container-toolkit.sources").exists
    assert test_host.run("command -v nvidia-smi").rc != 0


@pytest.mark.parametrize("user", [SERVICE_USER, AGENT_USER, "mlci-admin"])
def test_users_are_in_the_docker_group(test_host, user):
    assert "docker" in test_host.user(user).groups


def test_the_admin_user_reaches_docker_without_sudo(admin_host):
    info = admin_host.run("docker info --format '{{.ServerVersion}}'")
    assert info.rc == 0 and info.stdout.strip(), info.stderr


def test_stack_files_are_copied_from_the_checkout(test_host):
    for relative, text in STACK_FILES.items():
        copied = test_host.file(f"{MLCI_ROOT}/{relative}")
        assert copied.is_file, relative
        assert copied.content_string == text, relative
        assert copied.user == "root" and copied.mode == 0o644, relative
    assert not test_host.file(f"{MLCI_ROOT}/mlci/__pycache__").exists


def test_mlci_root_layout_and_owners(test_host):
    root = test_host.file(MLCI_ROOT)
    assert root.is_directory and root.user == SERVICE_USER and root.mode == 0o755
    home = test_host.file(f"{MLCI_ROOT}/jenkins_home")
    assert home.is_directory and home.uid == JENKINS_UID and home.mode == 0o750
    secrets = test_host.file(f"{MLCI_ROOT}/secrets")
    assert secrets.is_directory and secrets.user == "root" and secrets.mode == 0o700
    user = test_host.user(SERVICE_USER)
    assert user.shell == "/usr/sbin/nologin" and user.home == MLCI_ROOT


def test_env_file_carries_the_docker_socket_gid(test_host):
    socket_gid = int(test_host.check_output("stat -c %g /var/run/docker.sock"))
    env = test_host.file(f"{MLCI_ROOT}/compose/.env").content_string.splitlines()
    assert f"DOCKER_GID={socket_gid}" in env
    assert "COMPOSE_PROJECT_NAME=mlci-test" in env


def test_compose_project_is_valid_with_the_env_applied(test_host):
    config = test_host.run(f"cd {MLCI_ROOT}/compose && docker-compose config")
    assert config.rc == 0, config.stderr
    socket_gid = test_host.check_output("stat -c %g /var/run/docker.sock")
    assert f"- '{socket_gid}'" in config.stdout or f'- "{socket_gid}"' in config.stdout


def test_this_repositorys_rendered_compose_file_is_valid_on_the_host(test_host):
    """The real `compose/docker-compose.yml` (not the fixture) under the host's own compose."""
    rendered = (Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml").read_text()
    assert "MARKER_EOF" not in rendered
    secrets = " ".join(yaml.safe_load(rendered)["secrets"])
    setup = test_host.run(
        # jenkins/: the controller image's build context, which compose v1 requires to exist
        "rm -rf /tmp/rendered && mkdir -p /tmp/rendered/compose /tmp/rendered/secrets /tmp/rendered/jenkins"
        " && cd /tmp/rendered"
        f" && for s in {secrets}; do : > secrets/$s; done"
        " && printf 'DOCKER_GID=999\\nCOMPOSE_PROJECT_NAME=mlci-rendered\\n' > compose/.env"
        f" && cat > compose/docker-compose.yml <<'MARKER_EOF'\n{rendered}MARKER_EOF\n"
    )
    assert setup.rc == 0, setup.stderr
    config = test_host.run("cd /tmp/rendered/compose && docker-compose config -q")
    assert config.rc == 0, config.stderr


@pytest.mark.parametrize("secret", SECRETS, ids=lambda s: s["name"])
def test_each_secret_is_readable_only_by_its_service(test_host, secret):
    installed = test_host.file(f"{MLCI_ROOT}/secrets/{secret['name']}")
    assert installed.is_file
    assert installed.mode == 0o400
    assert installed.uid == secret["owner_uid"]
    assert installed.content_string == secret["value"]


def test_agent_key_is_jenkins_only_and_its_public_half_is_authorized(test_host):
    key = test_host.file(f"{MLCI_ROOT}/secrets/jenkins_agent_ssh_key")
    assert key.mode == 0o400 and key.uid == JENKINS_UID
    assert not test_host.file(f"{MLCI_ROOT}/secrets/jenkins_agent_ssh_key.pub").exists
    public = test_host.check_output(f"ssh-keygen -y -f {MLCI_ROOT}/secrets/jenkins_agent_ssh_key")
    authorized = test_host.file(f"/home/{AGENT_USER}/.ssh/authorized_keys")
    assert authorized.user == AGENT_USER and authorized.mode == 0o600
    assert public.strip() in authorized.content_string.splitlines()


def test_agent_user_workdir_and_java(test_host):
    agent = test_host.user(AGENT_USER)
    assert agent.shell == "/bin/bash"
    workdir = test_host.file(f"{MLCI_ROOT}/agent")
    assert workdir.is_directory and workdir.user == AGENT_USER and workdir.mode == 0o750
    assert test_host.run("java -version").rc == 0


def test_no_secret_value_in_any_world_readable_file(test_host):
    # Everything on the host's filesystems but the kernel's and Docker's own data, /run included
    # (the journal lives there), so module arguments logged anywhere would be found.
    # The README's marker is the control: the scan must find it, and nothing else.
    patterns = " ".join(f"-e '{value}'" for value in [README_MARKER, *(s["value"] for s in SECRETS)])
    found = test_host.run(
        r"find / \( -path /proc -o -path /sys -o -path /dev -o -path /var/lib/docker \) -prune "
        rf"-o -type f -perm -o=r -print0 | xargs -0 grep -l -a -F {patterns}"
    )
    assert found.stdout.split() == [f"{MLCI_ROOT}/README.md"], f"secret values in world-readable files:\n{found.stdout}"
