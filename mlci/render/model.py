"""Facts derived once from the manifest and shared by every renderer (so the files agree)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlci.manifest.schema import Host, Manifest
from mlci.webhook.rule import ALLOWED_TARGETS

STACK_ROOT = "/srv/mlci"  # on the controller: compose/, jenkins/, secrets/ and mlci's source (Ansible copies them)
SECRETS_DIR = "secrets"  # <STACK_ROOT>/secrets/<NAME>, 0400, installed by Ansible's mlci_stack role
AGENT_USER = "mlci-agent"  # created on agents by Ansible's jenkins_agent role
AGENT_WORKDIR = f"{STACK_ROOT}/agent"
AGENT_SSH_KEY = "JENKINS_AGENT_SSH_KEY"  # Jenkins credential (and Docker secret) of the agents' SSH key
AGENT_SSH_KEY_FILE = "jenkins_agent_ssh_key"  # generated on the controller by mlci_stack, not supplied
JENKINS_PORT = 8080
JENKINS_UID = 1000  # the `jenkins` user of the official image; owns the home and its secrets
CASC_PATH = "/etc/mlci/casc.yaml"
RELEASE_JOB = "mlci-release"
PROJECT_JENKINSFILE = "jenkins/project.Jenkinsfile"  # the per-project jobs' pipeline (needs `scm`)
EXPERIMENT_JOB = "mlci-experiment"  # trains projects at a ref as a named experiment with overrides
EXPERIMENT_JENKINSFILE = "jenkins/experiment.Jenkinsfile"  # its pipeline (needs `scm` too)
# Rendered only when mlci.yaml has environments: promote a version (with approval), then deploy it;
# and deploy one (startable through the webhook's deploy route). Their pipelines need `scm` too.
PROMOTE_JOB = "mlci-promote"
PROMOTE_JENKINSFILE = "jenkins/promote.Jenkinsfile"
DEPLOY_JOB = "mlci-deploy"
DEPLOY_JENKINSFILE = "jenkins/deploy.Jenkinsfile"
BUILT_IN_HOST = "built-in"  # MLCI_HOST of the controller when mlci.yaml lists no hosts (it has no GPU locks)
# How the controller's Jenkins, in its container, reaches the sshd of the host it runs on when that host
# is also an agent: compose maps this name to the host (`extra_hosts: host-gateway`), so it works
# whatever hosts[].address is (a public or NAT address the host cannot reach itself through).
CONTROLLER_SELF_ADDRESS = "host.docker.internal"
BUILD_LABEL = "mlci"  # the library runs its steps on `node('mlci')`
# The endpoints the public side may reach, exactly (the webhook filter in the stack enforces it).
WEBHOOK_PATHS = tuple(sorted(ALLOWED_TARGETS))
WEBHOOK_URL_SECRET = "MLCI_WEBHOOK_URL"  # GitHub repository secret: the public URL of the webhook


def project_job(project: str) -> str:
    return f"mlci-project-{project}"


def gpu_label(host: str) -> str:
    return f"gpu@{host}"


def gpu_resource(host: str, index: int) -> str:
    """`<host>-gpu<index>`: the library (GpuLease) turns locked names into `mlci run --gpus` indexes."""
    return f"{host}-gpu{index}"


@dataclass(frozen=True)
class Credential:
    id: str  # the Jenkins credential id is the secret's name: one name everywhere
    kind: str  # usernamePassword | string | sshKey
    description: str
    username: str | None = None


@dataclass(frozen=True)
class Secret:
    name: str
    service: str  # the compose service that reads /run/secrets/<name>
    owner_uid: int  # uid inside that service; Ansible installs the file 0400 for it
    file: str = ""  # under <STACK_ROOT>/secrets/; default: the name

    @property
    def filename(self) -> str:
        return self.file or self.name

    @property
    def supplied(self) -> bool:
        """Whether an operator provides the value (Vault or environment) rather than Ansible generating it."""
        return not self.file


@dataclass
class Facts:
    manifest: Manifest
    projects: list[str]
    controller: Host | None
    # Hosts with the agent role, the controller included: each is a Jenkins SSH agent (the controller's
    # host too, reached from the container as CONTROLLER_SELF_ADDRESS), so no build runs in the
    # controller's JVM container, where a recreate of the container would kill it.
    agents: list[Host]
    credentials: list[Credential] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)

    @property
    def controller_runs_builds(self) -> bool:
        """Whether Jenkins' built-in node has executors: only without `hosts:` (a stack started by hand,
        with no host for Ansible to make an agent of); with hosts, every build runs on an SSH agent."""
        return self.controller is None

    def ssh_address(self, host: Host) -> str:
        """The address the controller's container opens SSH agent connections to."""
        return CONTROLLER_SELF_ADDRESS if host is self.controller else host.address

    @property
    def controller_is_agent(self) -> bool:
        return self.controller is not None and self.controller in self.agents

    @property
    def webhook_domain(self) -> str | None:
        """frps' custom domain: its own name, so jenkins.url stays the team's internal URL (frps forwards
        only the webhook paths; build links through it would 404)."""
        frp = self.manifest.webhook.frp
        return frp.custom_domain if frp else None

    @property
    def git_credentials(self) -> str | None:
        repo = self.manifest.repository
        return (repo.credentials or repo.ssh_key) if repo else None

    def local_store_dirs(self) -> list[str]:
        """Absolute paths of local stores: host directories that publish writes to on every node, so
        the controller mounts them at the same path and Ansible creates them."""
        paths = {s.path.rstrip("/") for s in self.manifest.artifacts.stores.values() if s.type == "local" and s.path}
        return sorted(p for p in paths if p.startswith("/") and p.strip("/"))

    def builds_on(self, host: Host) -> bool:
        return host in self.agents

    def node_labels(self, host: Host) -> list[str]:
        labels = [host.name]
        if self.builds_on(host):
            labels += [BUILD_LABEL, "docker"] + (["gpu"] if host.gpus else [])
        return list(dict.fromkeys([*labels, *host.labels]))

    def gpu_hosts(self) -> list[Host]:
        """Hosts whose GPUs Jenkins can hand out: the agents (the controller's host when it is one)."""
        return [h for h in self.manifest.hosts if h.gpus and self.builds_on(h)]


def derive(manifest: Manifest, projects: list[str]) -> Facts:
    controller = next((h for h in manifest.hosts if "controller" in h.roles), None)
    agents = [h for h in manifest.hosts if "agent" in h.roles]
    facts = Facts(manifest, sorted(projects), controller, agents)
    facts.credentials = _credentials(manifest, bool(agents))
    jenkins_secrets = [manifest.jenkins.admin_password, *(c.id for c in facts.credentials)]
    jenkins_secrets += [a.password for a in manifest.jenkins.approvers]  # the local realm's approver users
    if manifest.repository and manifest.repository.known_hosts:  # read by JCasC's host-key policy
        jenkins_secrets.append(manifest.repository.known_hosts)
    facts.secrets = [
        Secret(name, "jenkins", JENKINS_UID, AGENT_SSH_KEY_FILE if name == AGENT_SSH_KEY else "")
        for name in dict.fromkeys(jenkins_secrets)
    ]
    if manifest.webhook.frp:
        facts.secrets.append(Secret(manifest.webhook.frp.token, "frpc", 0))
    if manifest.portainer.enabled:
        facts.secrets.append(Secret(manifest.portainer.admin_password, "portainer", 0))
    return facts


def _credentials(manifest: Manifest, has_agents: bool) -> list[Credential]:
    creds: dict[str, Credential] = {}

    def add(cred: Credential) -> None:
        creds.setdefault(cred.id, cred)

    repo = manifest.repository
    if repo and repo.credentials:
        add(Credential(repo.credentials, "usernamePassword", "Git token for the repository", username="git"))
    if repo and repo.ssh_key:  # an SSH URL: a key, never a token (the schema enforces which)
        add(Credential(repo.ssh_key, "sshKey", "SSH key that clones the repository", username="git"))
    add(Credential(manifest.webhook.token, "string", "Token of the release webhook (Generic Webhook Trigger)"))
    if manifest.notifications.slack:
        add(Credential(manifest.notifications.slack.webhook, "string", "Slack incoming webhook URL"))
    for name, store in sorted(manifest.artifacts.stores.items()):
        for secret, what in (
            (store.access_key_id, "access key id"),
            (store.secret_access_key, "secret access key"),
            (store.token, "token"),
        ):
            if secret:
                add(Credential(secret, "string", f"Artifact store '{name}': {what}"))
    for name, env in sorted(manifest.environments.items()):  # bound around `mlci deploy`/`mlci itest`
        for secret in env.secrets:
            add(Credential(secret, "string", f"Environment '{name}': deployment secret"))
    if mlflow := manifest.tracking.mlflow:  # bound around `mlci run`/`mlci track`, which send runs to MLflow
        for secret, what in ((mlflow.username, "user"), (mlflow.password, "password")):
            if secret:
                add(Credential(secret, "string", f"MLflow tracking server: {what}"))
    if has_agents:
        add(Credential(AGENT_SSH_KEY, "sshKey", "SSH key the controller uses to start agents", username=AGENT_USER))
    return list(creds.values())
