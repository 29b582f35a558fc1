"""`mlci deploy PROJECT --env ENV --status`: what serves as `{env}-{project}`, read back from the engine
(the container's labels and state), so it shows the truth even when the deploy that made it is gone."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlci import contract
from mlci.deploy.container import (
    LABEL_DEPLOYED_AT,
    LABEL_DEPLOYED_BY,
    LABEL_IMAGE,
    LABEL_PORT,
    Names,
    check_ours,
    inspect,
    network_name,
)


@dataclass(frozen=True)
class Deployed:
    name: str
    project: str
    env: str
    version: str
    job_id: str
    state: str  # running | restarting | exited | ...
    health: str  # healthy | unhealthy | starting | none
    since: str  # when the container last started
    image: str  # as the version index records it
    image_id: str
    port: int | None  # where it listens inside the container
    published: str | None  # host address:port, when serve.publish is set
    restart: str
    deployed_by: str
    deployed_at: str
    network: str

    @property
    def url(self) -> str | None:
        """How other containers on the environment's network reach it."""
        return f"http://{self.name}:{self.port}" if self.port else None

    def to_json(self) -> dict[str, Any]:
        data = {_camel(k): v for k, v in asdict(self).items()}
        data["url"] = self.url
        return data


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def deployed(api: Any, env: str, project: str) -> Deployed | None:
    """What serves `project` in `env` on this engine, or None."""
    name = Names.of(env, project).serving
    info = check_ours(inspect(api, name), env, project)
    if info is None:
        return None
    labels = (info.get("Config") or {}).get("Labels") or {}
    state = info.get("State") or {}
    port = labels.get(LABEL_PORT, "")
    return Deployed(
        name=name,
        project=project,
        env=env,
        version=labels.get(contract.LABEL_VERSION, "?"),
        job_id=labels.get(contract.LABEL_JOB, "?"),
        state=str(state.get("Status", "?")),
        health=str((state.get("Health") or {}).get("Status", "none")),
        since=str(state.get("StartedAt", ""))[:19].replace("T", " "),
        image=labels.get(LABEL_IMAGE, ""),
        image_id=str(info.get("Image", "")),
        port=int(port) if port.isdigit() else None,
        published=_published(info, port),
        restart=str(((info.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"),
        deployed_by=labels.get(LABEL_DEPLOYED_BY, ""),
        deployed_at=labels.get(LABEL_DEPLOYED_AT, ""),
        network=network_name(env),
    )


def _published(info: dict[str, Any], port: str) -> str | None:
    bindings = ((info.get("HostConfig") or {}).get("PortBindings") or {}).get(f"{port}/tcp") or []
    if not bindings:
        return None
    first = bindings[0]
    return f"{first.get('HostIp') or '0.0.0.0'}:{first.get('HostPort')}"
