"""Typed schema of mlci.yaml (project.yaml's is in mlci/manifest/project.py).

Every model forbids unknown keys (the loader turns that into "did you mean"), and every
free-form string that ends up in a rendered file, a shell command or a container label is
constrained (by the value types in mlci/manifest/fields.py), so that no manifest value can inject
code downstream.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mlci.manifest.approvers import Approver
from mlci.manifest.environments import Environments
from mlci.manifest.fields import (
    ADDRESS_RE,
    DEFAULT_BASE_IMAGE,
    HOSTNAME_RE,
    IMAGE_RE,
    POSIX_USER_RE,
    TEXT_RE,
    VERSION_RE,
    ByteSize,
    GitRef,
    Label,
    Name,
    SafePath,
    SecretName,
    Strict,
    Url,
)
from mlci.manifest.tracking import Tracking

# ---------------------------------------------------------------- mlci.yaml


# ---- adoption: the pinned mlci, reaching the stack, SSH repositories


class MlciPin(Strict):
    """The mlci every machine installs: controller image, agents, ci.yml (like pre-commit's
    minimum_pre_commit_version, but exact)."""

    version: Annotated[str, Field(pattern=VERSION_RE)] = Field(description="exact version, e.g. 0.1.0")
    index_url: Url | None = Field(
        None, description="simple index serving mlci (a private mirror); default: build.pip_index_url, else PyPI"
    )
    source: Literal["index", "checkout"] = Field(
        "index", description="checkout: install mlci from this repository's source (only mlci's own repository)"
    )

    @field_validator("version")
    @classmethod
    def _exact(cls, value: str) -> str:
        if not re.fullmatch(VERSION_RE, value):
            raise ValueError(f"'{value}' is not an exact version — pin one release, e.g. `version: 0.1.0`")
        return value


def is_ssh_url(url: str) -> bool:
    """`ssh://…` or scp-like `git@host:org/repo.git`: cloned with an SSH key, not a token."""
    return url.startswith("ssh://") or ("://" not in url and "@" in url)


class Repository(Strict):
    url: Url = Field(description="the Git URL Jenkins clones, e.g. https://github.com/acme/ml.git")
    branch: GitRef = "main"
    release_branch: GitRef | None = Field(None, description="branch release PRs merge into (default: branch)")
    trigger: Literal["release_pr", "push"] = Field(
        "release_pr",
        description="what starts a release: release_pr (a merged release PR) or push (every push to the release branch)",
    )
    credentials: SecretName | None = Field(None, description="name of the secret holding a Git token")
    # SSH URLs: the secret holding the private key (Jenkins basicSSHUserPrivateKey) and how Jenkins
    # checks the Git server's host key.
    ssh_key: SecretName | None = Field(None, description="secret holding the SSH private key, for SSH URLs")
    known_hosts: SecretName | None = Field(
        None, description="secret holding known_hosts lines for the Git server (host_key_policy: known_hosts)"
    )
    host_key_policy: Literal["known_hosts", "accept_first"] | None = Field(
        None, description="SSH URLs: known_hosts (verify against `known_hosts`) or accept_first (trust on first use)"
    )

    @model_validator(mode="after")
    def _credential_fits_url(self) -> Repository:
        if is_ssh_url(self.url):
            if self.credentials:
                raise ValueError(
                    "a token (`credentials:`) cannot authenticate an SSH URL — use `ssh_key: SECRET_NAME`"
                    " or an https:// URL"
                )
            if not self.ssh_key:
                raise ValueError(
                    "an SSH URL authenticates with a key — add `ssh_key: SECRET_NAME` (the private key's secret)"
                )
            if self.host_key_policy is None:
                raise ValueError(
                    "an SSH URL needs `host_key_policy:` — known_hosts (with `known_hosts: SECRET_NAME`)"
                    " or accept_first"
                )
            if self.host_key_policy == "known_hosts" and not self.known_hosts:
                raise ValueError("host_key_policy: known_hosts needs `known_hosts: SECRET_NAME` — add it")
        elif self.ssh_key or self.known_hosts or self.host_key_policy:
            raise ValueError(
                "ssh_key / known_hosts / host_key_policy apply to SSH URLs only — use `credentials:` (a token)"
                " for an https:// URL"
            )
        return self


class Host(Strict):
    name: Name
    address: Annotated[str, Field(pattern=ADDRESS_RE)]
    ssh_user: Annotated[str, Field(pattern=POSIX_USER_RE)] = "ubuntu"
    ssh_port: Annotated[int, Field(ge=1, le=65535)] = 22
    gpus: Annotated[int, Field(ge=0, le=64)] = 0
    roles: list[Literal["controller", "agent"]] = Field(default_factory=lambda: ["controller", "agent"])
    labels: list[Label] = Field(default_factory=list)


class JenkinsLibrary(Strict):
    version: GitRef = "main"
    path: SafePath = "jenkins/library"


class BuildDiscarder(Strict):
    """How many release and project builds Jenkins keeps (their logs and archived records)."""

    days: Annotated[int, Field(ge=1, le=3650)] = 90
    builds: Annotated[int, Field(ge=1, le=10000)] = 100


HttpUrl = Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]+\Z")]


class JenkinsPlugins(Strict):
    """Where the controller image's plugins come from (jenkins-plugin-cli reads no HTTP(S)_PROXY and no
    mirror by itself): a mirror of the update center, or a bundle made on a connected machine."""

    update_center: HttpUrl | None = Field(
        None, description="URL of an update-center.json mirror (jenkins-plugin-cli --jenkins-update-center)"
    )
    plugin_info: HttpUrl | None = Field(
        None, description="URL of a plugin-versions.json mirror (jenkins-plugin-cli --jenkins-plugin-info)"
    )
    mirror: HttpUrl | None = Field(
        None,
        description="base URL plugins are downloaded from, as <mirror>/<id>/<version>/<id>.hpi"
        " (JENKINS_UC_DOWNLOAD_URL)",
    )
    bundle: SafePath | None = Field(
        None,
        description="air-gapped: a directory of the .jpi files jenkins-plugin-cli downloaded on a connected"
        " machine (relative to the checkout, or absolute on the machine running Ansible); installed without network",
    )

    @model_validator(mode="after")
    def _bundle_or_network(self) -> JenkinsPlugins:
        if self.bundle and (self.update_center or self.plugin_info or self.mirror):
            raise ValueError(
                "bundle installs without network: drop update_center, plugin_info and mirror, or drop bundle"
            )
        return self


class Jenkins(Strict):
    url: Url | None = None
    executors: Annotated[int, Field(ge=0, le=64)] = 2
    admin_user: Annotated[str, Field(pattern=POSIX_USER_RE)] = "admin"
    admin_password: SecretName = "JENKINS_ADMIN_PASSWORD"
    api_user: Annotated[str, Field(pattern=POSIX_USER_RE)] = "admin"
    api_token: SecretName = "JENKINS_API_TOKEN"
    home: SafePath = "/srv/mlci/jenkins_home"
    runs_dir: SafePath = Field(
        "/srv/mlci/runs",
        description="host directory for run records on every node (MLCI_RUNS_DIR), so `mlci status` on the host"
        " sees Jenkins' runs; mounted at the same path in the controller",
    )
    bind: Annotated[str, Field(pattern=ADDRESS_RE)] = Field(
        "127.0.0.1", description="address the Jenkins UI is published on; a LAN address makes `mlci validate` warn"
    )
    system_message: Annotated[str, Field(pattern=TEXT_RE, max_length=500)] = "Continuous training by mlci"
    library: JenkinsLibrary = JenkinsLibrary()
    build_discarder: BuildDiscarder = BuildDiscarder()
    approvers: list[Approver] = Field(
        default_factory=list, description="people who approve publishing, as users of Jenkins' local realm"
    )

    @model_validator(mode="after")
    def _approvers_distinct(self) -> Jenkins:
        users = [a.user for a in self.approvers]
        dupes = sorted({u for u in users if users.count(u) > 1})
        if dupes:
            raise ValueError(f"approvers: user {', '.join(dupes)} is listed twice — merge the entries' projects")
        if self.admin_user in users:
            raise ValueError(
                f"approvers: {self.admin_user} is jenkins.admin_user, who may approve anything already — remove it"
            )
        return self

    plugins: JenkinsPlugins = JenkinsPlugins()


class Frp(Strict):
    server: Annotated[str, Field(pattern=ADDRESS_RE)]
    port: Annotated[int, Field(ge=1, le=65535)] = 7000
    token: SecretName = "FRP_TOKEN"
    custom_domain: Annotated[str, Field(pattern=HOSTNAME_RE)] | None = Field(
        None, description="public host name frps routes to the webhook paths (keep jenkins.url internal)"
    )
    vhost_http_port: Annotated[int, Field(ge=1, le=65535)] = Field(
        8080, description="frps' vhostHTTPPort (its example config: frps.toml.example)"
    )


class Webhook(Strict):
    token: SecretName = "MLCI_WEBHOOK_TOKEN"
    frp: Frp | None = None


class Portainer(Strict):
    enabled: bool = True
    bind: Annotated[str, Field(pattern=ADDRESS_RE)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 9443
    admin_password: SecretName = Field(
        "PORTAINER_ADMIN_PASSWORD", description="secret holding Portainer's admin password (no 5-minute lockout)"
    )


class Dashboard(Strict):
    """`mlci dashboard` and its optional service in the compose stack."""

    enabled: bool = Field(False, description="add the dashboard service to the rendered compose stack")
    bind: Annotated[str, Field(pattern=ADDRESS_RE)] = Field(
        "127.0.0.1", description="address the dashboard is published on; a LAN address makes `mlci validate` warn"
    )
    port: Annotated[int, Field(ge=1, le=65535)] = 8765
    password: SecretName | None = Field(
        None, description="secret holding the dashboard's own login password (the rerun button); unset: read-only"
    )


class Build(Strict):
    base_image: Annotated[str, Field(pattern=IMAGE_RE)] = DEFAULT_BASE_IMAGE
    registry: Annotated[str, Field(pattern=IMAGE_RE)] | None = None
    ca_bundle: SafePath | None = Field(None, description="PEM bundle trusted by builds (TLS proxies)")
    pip_index_url: Url | None = None
    network: Literal["default", "host", "none"] = Field(
        "default", description="network for image builds; host when only the host reaches the index"
    )


class Runner(Strict):
    engine_logs: Literal["none", "local", "json-file"] = Field(
        "none", description="the engine's own copy of stage output (mlci always keeps the full log in the record)"
    )
    max_output_size: ByteSize = Field(
        20 << 30, description="the most a stage's outputs may hold (e.g. 500m, 20g); checked before anything is copied"
    )
    cache_dir: SafePath | None = Field(
        None, description="the per-host cache root (default ~/.cache/mlci; MLCI_CACHE_DIR on a host wins)"
    )


class Store(Strict):
    type: Literal["local", "s3", "huggingface"]
    # local
    path: SafePath | None = None
    # s3
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")] | None = None
    prefix: SafePath | None = None
    endpoint_url: Url | None = None
    region: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}\Z")] | None = None
    access_key_id: SecretName | None = None
    secret_access_key: SecretName | None = None
    # huggingface
    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*\Z")] | None = None
    repo_type: Literal["model", "dataset"] = "model"
    private: bool = True
    token: SecretName | None = None
    endpoint: Url | None = None

    @model_validator(mode="after")
    def _required_per_type(self) -> Store:
        need = {"local": ("path",), "s3": ("bucket",), "huggingface": ("repo",)}[self.type]
        for key in need:
            if getattr(self, key) is None:
                raise ValueError(f"a store of type {self.type} needs `{key}:` — add it")
        return self


def _default_stores() -> dict[str, Store]:
    return {"local": Store(type="local", path=".mlci/artifacts")}


class Artifacts(Strict):
    default: Name = "local"
    stores: dict[Name, Store] = Field(default_factory=_default_stores)

    @model_validator(mode="after")
    def _default_exists(self) -> Artifacts:
        if self.default not in self.stores:
            choices = ", ".join(sorted(self.stores)) or "none defined"
            raise ValueError(f"default store '{self.default}' is not defined — use one of: {choices}")
        return self


class Slack(Strict):
    webhook: SecretName = "SLACK_WEBHOOK_URL"
    channel: Annotated[str, Field(pattern=r"^#?[a-z0-9_-]{1,80}\Z")] | None = None


class Notifications(Strict):
    slack: Slack | None = None


class Manifest(Strict):
    version: Literal[1]
    name: Name
    mlci: MlciPin | None = Field(None, description="the pinned mlci version every machine installs")
    repository: Repository | None = None
    hosts: list[Host] = Field(default_factory=list)
    jenkins: Jenkins = Jenkins()
    webhook: Webhook = Webhook()
    portainer: Portainer = Portainer()
    build: Build = Build()
    runner: Runner = Runner()
    artifacts: Artifacts = Artifacts()
    notifications: Notifications = Notifications()
    tracking: Tracking = Tracking()
    dashboard: Dashboard = Dashboard()
    environments: Environments = Field(
        default_factory=dict, description="targets a published version is promoted to (mlci promote)"
    )
    locale: Literal["en", "ja"] = Field("en", description="language of the dashboard (and Slack messages)")

    @field_validator("hosts")
    @classmethod
    def _hosts_consistent(cls, hosts: list[Host]) -> list[Host]:
        names = [h.name for h in hosts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"host names must be unique (repeated: {', '.join(dupes)}) — rename one")
        controllers = [h.name for h in hosts if "controller" in h.roles]
        if hosts and len(controllers) != 1:
            raise ValueError(
                f"exactly one host needs the controller role (found {len(controllers)})"
                " — give one host `roles: [controller, agent]`"
            )
        return hosts

    def secret_names(self) -> list[str]:
        """Every secret name the manifest references (values come from the environment)."""
        names = {self.jenkins.admin_password, self.jenkins.api_token, self.webhook.token}
        names.update(a.password for a in self.jenkins.approvers)
        if self.repository:
            names.update(
                n for n in (self.repository.credentials, self.repository.ssh_key, self.repository.known_hosts) if n
            )
        if self.portainer.enabled:
            names.add(self.portainer.admin_password)
        if self.webhook.frp:
            names.add(self.webhook.frp.token)
        if self.notifications.slack:
            names.add(self.notifications.slack.webhook)
        if self.dashboard.password:
            names.add(self.dashboard.password)
        for store in self.artifacts.stores.values():
            names.update(n for n in (store.access_key_id, store.secret_access_key, store.token) if n)
        if mlflow := self.tracking.mlflow:
            names.update(n for n in (mlflow.username, mlflow.password) if n)
        for env in self.environments.values():
            names.update(env.secrets)
        return sorted(names)
