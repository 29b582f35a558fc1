"""A repository checkout of the shape `mlci render` leaves (fixture stack files, inventory, group_vars,
an Ansible Vault file) pointing at the SSH test host, and ansible-playbook runs against it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import infra_host
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO_ROOT / "ansible"
# ansible-playbook and friends from the environment running pytest (pip install ansible-core).
ANSIBLE_BIN = Path(sys.executable).parent
VAULT_PASSWORD = "mlci-test-vault-password"

# Secret values the tests look for everywhere on the host; one comes from Ansible Vault, the
# others from the controller's environment, as the two documented sources.
SECRETS = [
    {"name": "MLCI_TEST_FRP_TOKEN", "service": "frpc", "owner_uid": 0, "value": "frp-7c1e9d0b-secret"},
    {"name": "MLCI_TEST_GITHUB_TOKEN", "service": "jenkins", "owner_uid": 1000, "value": "ghp-5b2f8a44-secret"},
    {"name": "MLCI_TEST_SLACK_WEBHOOK", "service": "jenkins", "owner_uid": 1000, "value": "slack-91d3e6aa-secret"},
]
VAULT_SECRET = "MLCI_TEST_SLACK_WEBHOOK"
SERVICE_USER = "mlci"
AGENT_USER = "mlci-agent"
JENKINS_UID = 1000
MLCI_ROOT = "/srv/mlci"

JENKINS_BASE_IMAGE = "jenkins/jenkins:lts-jdk17"  # test_stack_start gives the host a stand-in under this name
README_MARKER = "marker-3f9a2c"  # a world-readable file's content the secret scan must find
STACK_FILES = {
    "compose/docker-compose.yml": """\
# A minimal stand-in for the rendered stack: Jenkins built from mlci_root, Docker-out-of-Docker.
services:
  jenkins:
    build:
      context: /srv/mlci
      dockerfile: jenkins/Dockerfile
    group_add: ["${DOCKER_GID}"]
    ports: ["127.0.0.1:8080:8080"]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - /srv/mlci/jenkins_home:/srv/mlci/jenkins_home
    environment:
      JENKINS_HOME: /srv/mlci/jenkins_home
    secrets: [MLCI_TEST_GITHUB_TOKEN, JENKINS_AGENT_SSH_KEY]
    # as rendered when the controller's host is also an agent: Jenkins reaches its sshd by this name
    extra_hosts: ["host.docker.internal:host-gateway"]
    labels:
      mlci.service: jenkins
secrets:
  MLCI_TEST_GITHUB_TOKEN:
    file: /srv/mlci/secrets/MLCI_TEST_GITHUB_TOKEN
  JENKINS_AGENT_SSH_KEY:
    file: /srv/mlci/secrets/jenkins_agent_ssh_key
""",
    "compose/frpc.toml": 'serverAddr = "frps.example.com"\nserverPort = 7000\nauth.token = "{{ .Envs.FRP_TOKEN }}"\n',
    "jenkins/casc.yaml": "jenkins:\n  systemMessage: mlci test fixture\n",
    "jenkins/plugins.txt": "configuration-as-code\n",
    "jenkins/Dockerfile": f"FROM {JENKINS_BASE_IMAGE}\nCOPY jenkins/casc.yaml /usr/share/jenkins/ref/casc.yaml\n",
    "pyproject.toml": '[project]\nname = "mlci"\nversion = "0.0.0"\n',
    "README.md": f"# fixture checkout {README_MARKER}\n",
    "mlci/__init__.py": "",
    "mlci/cli.py": "def run():\n    pass\n",
}


def ansible_tool(name: str) -> str:
    local = ANSIBLE_BIN / name
    return str(local) if local.exists() else name


@dataclass
class PlaybookRun:
    returncode: int
    output: str

    def recap(self, host: str) -> dict[str, int]:
        match = re.search(rf"^{re.escape(host)}\s+:\s+(.*)$", self.output, re.MULTILINE)
        assert match, f"no PLAY RECAP line for {host}:\n{self.output[-3000:]}"
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


@dataclass
class Checkout:
    """A repository checkout of the shape `mlci render` leaves, pointing at the test host."""

    root: Path
    host: infra_host.SshHost

    @property
    def ansible_dir(self) -> Path:
        return self.root / "ansible"

    def environment(self, **overrides: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MLCI_TEST_"))}
        env |= {s["name"]: s["value"] for s in SECRETS if s["name"] != VAULT_SECRET}
        env |= {"ANSIBLE_CONFIG": str(self.ansible_dir / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
        env["PATH"] = f"{ANSIBLE_BIN}:{env.get('PATH', '')}"
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def host_shell(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-F", str(self.host.ssh_config), self.host.name, command], text=True, capture_output=True
        )

    def playbook(self, *args: str, env: dict[str, str] | None = None, playbook: str = "site.yml") -> PlaybookRun:
        done = subprocess.run(
            [
                ansible_tool("ansible-playbook"),
                "-i",
                "inventory.yml",
                "--vault-password-file",
                str(self.root / "vault-password"),
                playbook,
                *args,
            ],
            cwd=self.ansible_dir,
            env=env or self.environment(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        return PlaybookRun(done.returncode, done.stdout)


def _write_yaml(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def make_checkout(root: Path, host: infra_host.SshHost) -> Checkout:
    for relative, text in STACK_FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    # A bytecode cache in the checkout must not travel to the host.
    (root / "mlci/__pycache__").mkdir()
    (root / "mlci/__pycache__/cli.cpython-311.pyc").write_bytes(b"\x00stale")

    ansible = root / "ansible"
    ansible.mkdir()
    shutil.copy(ANSIBLE_DIR / "site.yml", ansible / "site.yml")
    shutil.copy(ANSIBLE_DIR / "gpu-smoke.yml", ansible / "gpu-smoke.yml")  # site.yml's last play imports it
    shutil.copy(ANSIBLE_DIR / "ansible.cfg", ansible / "ansible.cfg")
    (ansible / "roles").symlink_to(ANSIBLE_DIR / "roles")
    host_vars = {
        "ansible_host": "127.0.0.1",
        "ansible_port": host.port,
        "ansible_user": host.user,
        "ansible_ssh_private_key_file": str(host.identity_file),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "mlci_gpus": 0,
    }
    _write_yaml(
        ansible / "inventory.yml",
        {
            "all": {
                "children": {
                    "mlci_controllers": {"hosts": {host.name: host_vars}},
                    "mlci_agents": {"hosts": {host.name: host_vars}},
                }
            }
        },
    )
    _write_yaml(
        ansible / "group_vars/all/main.yml",
        {
            "mlci_project_name": "mlci-test",
            "mlci_root": MLCI_ROOT,
            "mlci_jenkins_home": f"{MLCI_ROOT}/jenkins_home",
            "mlci_jenkins_uid": JENKINS_UID,
            "mlci_jenkins_port": 8080,
            "mlci_portainer_enabled": True,
            "mlci_portainer_bind": "127.0.0.1",
            "mlci_portainer_port": 9443,
            "mlci_frp_enabled": True,
            "mlci_stack_files": [
                "compose/docker-compose.yml",
                "compose/frpc.toml",
                "jenkins/casc.yaml",
                "jenkins/plugins.txt",
                "jenkins/Dockerfile",
                "pyproject.toml",
                "README.md",
                "mlci/",
            ],
            "mlci_secrets": [{k: s[k] for k in ("name", "service", "owner_uid")} for s in SECRETS],
            # Test-host choices: Debian's docker.io, and no `up` (its images cannot be pulled here).
            "mlci_docker_source": "distro",
            "mlci_stack_start": False,
            "mlci_docker_users": [host.user],
        },
    )
    vault_file = ansible / "group_vars/all/vault.yml"
    _write_yaml(
        vault_file,
        {"mlci_secret_values": {VAULT_SECRET: next(s["value"] for s in SECRETS if s["name"] == VAULT_SECRET)}},
    )
    (root / "vault-password").write_text(VAULT_PASSWORD + "\n")
    subprocess.run(
        [
            ansible_tool("ansible-vault"),
            "encrypt",
            "--vault-password-file",
            str(root / "vault-password"),
            str(vault_file),
        ],
        check=True,
        capture_output=True,
    )
    return Checkout(root=root, host=host)


@dataclass
class Provisioning:
    check_on_fresh_host: PlaybookRun
    docker_after_check: bool  # was docker.io installed by the check-mode run? (it must not be)
    first: PlaybookRun
    second: PlaybookRun
    check_on_converged_host: PlaybookRun
