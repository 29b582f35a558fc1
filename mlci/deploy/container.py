"""How a model version serves in an environment: the names, labels, mounts, environment, limits and
health check of the container `mlci deploy` makes, and the one call that creates it.

The contract (README, "Deployment"): the project image runs `serve.command` with `sh -c`, as the
invoking user's UID:GID like a stage; the version's outputs are mounted read-only at /mlci/model
(MLCI_MODEL_DIR); MLCI_SERVE_PORT, MLCI_MODEL_VERSION, MLCI_PROJECT, MLCI_ENV and the environment's
secrets are set; the container joins the network `mlci-{env}`, where other containers reach it as
`{env}-{project}`. Names containing `_` cannot be any environment's or project's resource name, so a
candidate or retired container never takes another deployment's name.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlci import contract
from mlci.deploy.health import healthcheck
from mlci.deploy.target import Target
from mlci.errors import MlciError
from mlci.manifest.environments import resource_name
from mlci.manifest.serve import SERVE_MODEL_DIR, Serve
from mlci.runner.gpus import GpuPlan

LABEL_DEPLOYED_BY = "mlci.deployed-by"
LABEL_DEPLOYED_AT = "mlci.deployed-at"
LABEL_PORT = "mlci.serve.port"  # where the service listens in the container (mlci itest's URL)
LABEL_SPEC = "mlci.serve.spec"  # a hash of everything that makes the container (see spec_hash)
LABEL_IMAGE = "mlci.image"  # the image as the version index records it
# Portainer shows this label as a container's "Stack" (else com.docker.stack.namespace): each
# environment's services are grouped as the stack `mlci-{env}`.
LABEL_STACK = "com.docker.compose.project"
ENGINE_LOG = {"type": "json-file", "config": {"max-size": "20m", "max-file": "3"}}
STOP_GRACE_S = 10  # SIGTERM, then SIGKILL: in-flight requests get this long to finish


def network_name(env: str) -> str:
    return f"mlci-{env}"


@dataclass(frozen=True)
class Names:
    """The containers of one deployment: serving, candidate under health check, retired during a swap."""

    serving: str
    candidate: str
    retired: str

    @classmethod
    def of(cls, env: str, project: str) -> Names:
        name = resource_name(env, project)
        return cls(name, f"{name}_candidate", f"{name}_retired")


@dataclass(frozen=True)
class ServeSpec:
    target: Target
    serve: Serve
    image_id: str
    gpu: GpuPlan
    secrets: dict[str, str] = field(default_factory=dict)
    deployed_by: str = ""
    user: str = field(default_factory=lambda: f"{os.getuid()}:{os.getgid()}")

    @property
    def names(self) -> Names:
        return Names.of(self.target.env, self.target.project)

    @property
    def network(self) -> str:
        return network_name(self.target.env)

    def environment(self) -> dict[str, str]:
        env = {
            "MLCI_MODEL_DIR": SERVE_MODEL_DIR,
            "MLCI_SERVE_PORT": str(self.serve.port),
            "MLCI_MODEL_VERSION": self.target.version,
            "MLCI_PROJECT": self.target.project,
            "MLCI_ENV": self.target.env,
            **self.secrets,
        }
        if self.user.split(":")[0] != "0":
            env["HOME"] = "/tmp"  # the caller's UID has no home in the image
        if self.gpu.device_request is not None:
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
            env["MLCI_GPU_UUIDS"] = ",".join(self.gpu.uuids)
        return env

    def spec_hash(self) -> str:
        """Everything that makes the container but who and when: an unchanged deployment is a no-op."""
        serve = self.serve.model_dump(mode="json", exclude={"itest"})
        secret_values = hashlib.sha256(json.dumps(sorted(self.secrets.items())).encode()).hexdigest()
        data = {
            "image": self.image_id,
            "content": self.target.digest or str(self.target.model_dir),
            "version": self.target.version,
            "serve": serve,
            "gpus": [self.gpu.devices, list(self.gpu.uuids)],
            "secrets": secret_values,
            "user": self.user,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]

    def labels(self) -> dict[str, str]:
        target = self.target
        return {
            contract.LABEL_SERVE: "1",
            contract.LABEL_PROJECT: target.project,
            contract.LABEL_ENV: target.env,
            contract.LABEL_VERSION: target.version,
            contract.LABEL_JOB: target.job_id,
            LABEL_IMAGE: target.image,
            LABEL_PORT: str(self.serve.port),
            LABEL_SPEC: self.spec_hash(),
            LABEL_DEPLOYED_BY: self.deployed_by,
            LABEL_DEPLOYED_AT: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            LABEL_STACK: self.network,
        }


def restart_policy(serve: Serve) -> dict[str, Any]:
    return {"Name": serve.restart, "MaximumRetryCount": 0} if serve.restart != "no" else {"Name": "no"}


def create(api: Any, spec: ServeSpec, name: str, *, publish: bool, restart: bool) -> str:
    """Create (not start) the container `name`; `publish`: bind serve.publish on the host;
    `restart`: with serve.restart (a candidate gets none: one that crashes must stay down)."""
    serve = spec.serve
    ports = {f"{serve.port}/tcp": (serve.bind, serve.publish)} if publish and serve.publish else None
    host_config = api.create_host_config(
        binds={str(spec.target.model_dir): {"bind": SERVE_MODEL_DIR, "mode": "ro"}},
        port_bindings=ports,
        network_mode=spec.network,
        restart_policy=restart_policy(serve) if restart else {"Name": "no"},
        device_requests=[spec.gpu.device_request] if spec.gpu.device_request is not None else None,
        devices=[f"{node}:{node}:rwm" for node in spec.gpu.device_nodes] or None,
        mem_limit=serve.memory,
        nano_cpus=int(serve.cpus * 1e9) if serve.cpus else None,
        log_config=ENGINE_LOG,
        security_opt=["no-new-privileges"],
        init=True,
    )
    return api.create_container(
        spec.image_id,
        command=["sh", "-c", serve.command],
        environment=spec.environment(),
        labels=spec.labels(),
        user=spec.user,
        ports=[serve.port] if ports else None,
        host_config=host_config,
        networking_config=api.create_networking_config({spec.network: api.create_endpoint_config()}),
        healthcheck=healthcheck(serve),
        name=name,
    )["Id"]


def ensure_network(api: Any, env: str) -> str:
    """The environment's network (a plain bridge: the service may publish a port and reach out).
    Deploys of two projects to one environment may both create it: the one that loses finds it."""
    from docker.errors import APIError

    name = network_name(env)
    if _check_network(api, name, env):
        return name
    try:
        api.create_network(
            name, driver="bridge", labels={contract.LABEL_SERVE: "1", contract.LABEL_ENV: env}, check_duplicate=True
        )
    except APIError:
        if not _check_network(api, name, env):
            raise
    return name


def _check_network(api: Any, name: str, env: str) -> bool:
    """True when `name` exists and is ours; a stranger under the name is refused."""
    for info in api.networks(names=[name]):
        if info.get("Name") == name:
            labels = info.get("Labels") or {}
            if labels.get(contract.LABEL_ENV) != env or not labels.get(contract.LABEL_SERVE):
                raise _foreign(f"network {name}", "rename or remove it (`docker network rm`)")
            return True
    return False


def inspect(api: Any, name: str) -> dict[str, Any] | None:
    """The container called exactly `name`, or None."""
    from docker.errors import NotFound

    try:
        info = api.inspect_container(name)
    except NotFound:
        return None
    return info if info.get("Name", "").lstrip("/") == name else None


def check_ours(info: dict[str, Any] | None, env: str, project: str) -> dict[str, Any] | None:
    """`info` when mlci deployed it for `project` in `env`; a stranger under our name is refused."""
    if info is not None and not ours(info, env, project):
        name = info.get("Name", "?").lstrip("/")
        raise _foreign(f"container {name}", f"rename or remove it (`docker rm -f {name}`), then deploy again")
    return info


def ours(info: dict[str, Any], env: str, project: str) -> bool:
    """A container (inspect or list data) that mlci deployed for `project` in `env`."""
    labels = (info.get("Config") or {}).get("Labels") if "Config" in info else info.get("Labels")
    labels = labels or {}
    return (
        bool(labels.get(contract.LABEL_SERVE))
        and labels.get(contract.LABEL_ENV) == env
        and labels.get(contract.LABEL_PROJECT) == project
    )


def _foreign(what: str, fix: str) -> MlciError:
    return MlciError(f"{what} exists but was not made by mlci deploy; nothing was changed", hint=fix)
