"""Typed schema of mlci.yaml and projects/<name>/project.yaml.

Every model forbids unknown keys (the loader turns that into "did you mean"), and every
free-form string that ends up in a rendered file, a shell command or a container label is
constrained here, so that no manifest value can inject code downstream.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

DEFAULT_BASE_IMAGE = "mlci/python:3.11-bookworm"
NAME_RE = r"^[a-z0-9][a-z0-9-]{0,62}\Z"
SECRET_RE = r"^[A-Z][A-Z0-9_]{0,127}\Z"
STAGE_RE = r"^[a-z0-9][a-z0-9_-]{0,62}\Z"
HOSTNAME_RE = (
    r"^(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)
ADDRESS_RE = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*|" + HOSTNAME_RE[1:-2] + r")\Z"
# URLs end up in YAML, TOML, Groovy strings and shell words: allow only the characters a URL needs
# and none that any of those languages treats specially ($, `, ', ", \, whitespace, {, }).
URL_RE = (
    r"^(https?|ssh|git)://[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]+\Z|^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:[A-Za-z0-9._/~-]+\Z"
)
REF_RE = r"^(?!.*\.\.)(?!/)[A-Za-z0-9._/-]{1,200}(?<!/)(?<!\.lock)\Z"
POSIX_USER_RE = r"^[a-z_][a-z0-9_-]{0,31}\Z"
LABEL_RE = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}\Z"
IMAGE_RE = r"^[a-z0-9][a-z0-9._/:@-]{0,254}\Z"
PATH_RE = r"^[A-Za-z0-9._/~-]{1,4096}\Z"
TEXT_RE = r"^[^\x00-\x1f\x7f$`'\"\\{}]*\Z"
# An exact release (PEP 440 public version, no local part): what `pip install mlci==X` accepts.
VERSION_RE = r"[0-9]+(\.[0-9]+){0,3}((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?"

Name = Annotated[str, Field(pattern=NAME_RE)]
SecretName = Annotated[str, Field(pattern=SECRET_RE)]
SafePath = Annotated[str, Field(pattern=PATH_RE)]
Url = Annotated[str, Field(pattern=URL_RE)]
GitRef = Annotated[str, Field(pattern=REF_RE)]
Label = Annotated[str, Field(pattern=LABEL_RE)]

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: Any) -> int:
    """`2h`, `1h30m`, `45s`, `90` (seconds) → seconds."""
    if isinstance(value, bool):
        raise ValueError("not a duration — use e.g. 30m, 2h or 1h30m")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value and (m := _DURATION.fullmatch(value.strip())) and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    else:
        raise ValueError("not a duration — use e.g. 30m, 2h or 1h30m")
    if seconds <= 0:
        raise ValueError("must be longer than zero — use e.g. 30m")
    return seconds


Duration = Annotated[int, BeforeValidator(parse_duration)]

_SIZE = re.compile(r"([0-9]{1,15})([kmgt]?)i?b?", re.IGNORECASE)


def parse_size(value: Any) -> int:
    """`500m`, `20g`, `1t`, `4096` (bytes) → bytes (powers of 1024)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("not a size — use e.g. 500m or 20g")
    if isinstance(value, int):
        size = value
    elif m := _SIZE.fullmatch(value.strip()):
        size = int(m.group(1)) << (10 * " kmgt".index(m.group(2).lower() or " "))
    else:
        raise ValueError("not a size — use e.g. 500m or 20g")
    if size <= 0:
        raise ValueError("must be larger than zero — use e.g. 20g")
    return size


ByteSize = Annotated[int, BeforeValidator(parse_size)]


def check_gpus(value: Any) -> str | int | list[int]:
    """`auto | all | none | N | [i, j]` (DESIGN.md); anything else is an error with the choices."""
    hint = "must be auto, all, none, a GPU count or device indexes — e.g. `gpus: 1` or `gpus: [0, 1]`"
    if isinstance(value, bool):
        raise ValueError(hint)
    if isinstance(value, str) and value in ("auto", "all", "none"):
        return value
    if isinstance(value, int) and value >= 0:
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
    ):
        if len(set(value)) != len(value):
            raise ValueError("lists a device twice — name each GPU index once")
        return value
    raise ValueError(hint)


GpuSpec = Annotated[Any, BeforeValidator(check_gpus)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")


# ---------------------------------------------------------------- mlci.yaml


# ---- adoption (issue 10): the pinned mlci, reaching the stack, SSH repositories


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
    dashboard: Dashboard = Dashboard()
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
        return sorted(names)


# ---------------------------------------------------------------- project.yaml


class Stage(Strict):
    name: Annotated[str, Field(pattern=STAGE_RE)]
    run: Annotated[str, Field(min_length=1, max_length=4096)]
    timeout: Duration | None = None

    @field_validator("run")
    @classmethod
    def _no_control_chars(cls, value: str) -> str:
        if any(ord(c) < 32 and c not in "\t" for c in value):
            raise ValueError("must be one line — put longer scripts in a file such as run.sh")
        return value


class Gate(Strict):
    metric: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}\Z")]
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Gate:
        if (self.min is None) == (self.max is None):
            raise ValueError("needs exactly one bound — set `min:` (accuracy-like) or `max:` (loss-like)")
        return self

    def passes(self, value: float) -> bool:
        return value >= self.min if self.min is not None else value <= self.max  # type: ignore[operator]

    def describe(self) -> str:
        return f"{self.metric} >= {self.min:g}" if self.min is not None else f"{self.metric} <= {self.max:g}"


class Retrain(Strict):
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 1


class Publish(Strict):
    store: Name | None = Field(None, description="store name from mlci.yaml artifacts.stores")
    approval: bool = False
    submitter: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@,-]{1,200}\Z")] | None = None
    approval_timeout: Duration = 86400


class Ulimits(Strict):
    memlock: Annotated[int, Field(ge=-1)] | None = Field(
        None,
        description="locked-memory limit in bytes, -1 unlimited; default: unlimited for GPU stages, the engine's otherwise",
    )
    stack: Annotated[int, Field(ge=-1)] = Field(64 * 1024 * 1024, description="stack size limit in bytes, -1 unlimited")


def _default_stages() -> list[Stage]:
    return [Stage(name="train", run="./run.sh")]


class Project(Strict):
    gpus: GpuSpec = "auto"
    timeout: Duration = 7200
    stages: Annotated[list[Stage], Field(min_length=1)] = Field(default_factory=_default_stages)
    gate: Gate | None = None
    retrain: Retrain = Retrain()
    publish: Publish = Publish()
    secrets: list[SecretName] = Field(default_factory=list)
    depends_on: list[SafePath] = Field(default_factory=list)
    shm_size: Annotated[str, Field(pattern=r"^[0-9]+[bkmg]?\Z")] | None = None
    ipc: Literal["private", "shareable", "host"] = Field(
        "private", description="IPC namespace; `host` shares the host's /dev/shm (shm_size then does not apply)"
    )
    ulimits: Ulimits = Field(default_factory=Ulimits)

    @model_validator(mode="after")
    def _unique_stage_names(self) -> Project:
        names = [s.name for s in self.stages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"stage names must be unique (repeated: {', '.join(dupes)}) — rename one")
        return self
