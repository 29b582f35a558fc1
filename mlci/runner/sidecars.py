"""Sidecar services beside a stage: a simulator, a database, an inference server under test.

For each stage that declares services, mlci creates a Docker network of its own (`internal`: no
route out, and nothing on it is ever published on the host), starts each service on it under its
name, waits until each is healthy, runs the stage attached to it, and — whatever happens: success,
failure, timeout, cancel — removes the services and the network. Each carries the run's labels and
owner, so after a SIGKILL'd mlci the next run's leftover cleanup removes them too. A service's
output goes to `attempt-N/<stage>.<service>.log` in the record.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.errors import MlciError
from mlci.runner.logsink import LogSink
from mlci.runner.logsink import tail as log_tail

LABEL_SIDECAR = "mlci.sidecar"
LOG_TAIL_LINES = 20
_POLL_S = 0.2


@dataclass(frozen=True)
class SidecarSpec:
    name: str  # its host name on the stage's network
    image: str
    command: list[str] | None
    env: dict[str, str]
    labels: dict[str, str]
    log: Path
    secrets: tuple[str, ...] = ()  # values to mask in its log
    device_request: Any | None = None
    device_nodes: tuple[str, ...] = ()  # legacy GPU requests: explicit nodes (mlci/runner/gpus.py)
    health_cmd: str | None = None
    health_interval_s: float = 1.0
    start_timeout_s: float = 60.0


@dataclass
class SidecarOutcome:
    """What the record keeps of one service."""

    name: str
    image: str
    status: str = "Starting"  # Healthy | Unhealthy | Exited | Failed | Removed
    error: str | None = None
    log: str = ""


class SidecarFailed(MlciError):
    """A service did not become healthy: the attempt fails with its log's tail (no retrain)."""

    def __init__(self, message: str, outcomes: list[SidecarOutcome]):
        super().__init__(message)
        self.outcomes = outcomes


@dataclass
class Services:
    """The stage's network and its running services, yielded by `running`."""

    network: str | None
    outcomes: list[SidecarOutcome] = field(default_factory=list)


@contextlib.contextmanager
def running(api: Any, specs: list[SidecarSpec], network: str, labels: dict[str, str]) -> Iterator[Services]:
    """Start `specs` on a new internal network `network`; always remove both afterwards."""
    if not specs:
        yield Services(None)
        return
    started: list[tuple[SidecarSpec, str, SidecarOutcome]] = []
    services = Services(network)
    api.create_network(network, driver="bridge", internal=True, labels=labels, check_duplicate=True)
    try:
        for spec in specs:
            outcome = SidecarOutcome(spec.name, spec.image, log=spec.log.name)
            services.outcomes.append(outcome)
            started.append((spec, _start(api, spec, network), outcome))
        deadline_of = {id(s): time.monotonic() + s.start_timeout_s for s, _, _ in started}
        for spec, container, outcome in started:
            _wait_ready(api, spec, container, outcome, deadline_of[id(spec)])
        yield services
    finally:
        for spec, container, outcome in started:
            _collect_log(api, container, spec)
            with contextlib.suppress(Exception):
                api.remove_container(container, force=True, v=True)
            if outcome.status in ("Starting", "Healthy"):
                outcome.status = "Removed"
        with contextlib.suppress(Exception):
            api.remove_network(network)


def _start(api: Any, spec: SidecarSpec, network: str) -> str:
    health = None
    if spec.health_cmd:
        interval = int(spec.health_interval_s * 1e9)
        health = {
            "test": ["CMD-SHELL", spec.health_cmd],
            "interval": interval,
            "timeout": max(interval, int(5e9)),
            "retries": 3,
            "start_period": int(spec.start_timeout_s * 1e9),
        }
    host_config = api.create_host_config(
        network_mode=network,
        device_requests=[spec.device_request] if spec.device_request is not None else None,
        devices=[f"{node}:{node}:rwm" for node in spec.device_nodes] or None,
        # the engine keeps a bounded copy (read into the record at removal): never the host's disk unbounded
        log_config={"type": "json-file", "config": {"max-size": "20m", "max-file": "1"}},
        init=True,
    )
    networking = api.create_networking_config({network: api.create_endpoint_config(aliases=[spec.name])})
    container = api.create_container(
        spec.image,
        command=spec.command,
        environment=spec.env,
        labels={**spec.labels, LABEL_SIDECAR: spec.name},
        host_config=host_config,
        networking_config=networking,
        healthcheck=health,
        hostname=spec.name,
    )["Id"]
    api.start(container)
    return container


def _wait_ready(api: Any, spec: SidecarSpec, container: str, outcome: SidecarOutcome, deadline: float) -> None:
    """Healthy (or, without a health check, running) before the deadline; else SidecarFailed."""
    while True:
        state = api.inspect_container(container)["State"]
        health = (state.get("Health") or {}).get("Status")
        if state.get("Status") == "exited":
            outcome.status, outcome.error = "Exited", f"exited with code {state.get('ExitCode')} before it was ready"
            break
        if (spec.health_cmd and health == "healthy") or (not spec.health_cmd and state.get("Running")):
            outcome.status = "Healthy"
            return
        if time.monotonic() >= deadline:
            outcome.status = "Unhealthy"
            outcome.error = f"not healthy after {spec.start_timeout_s:g}s (health: {health or 'none'})"
            break
        time.sleep(_POLL_S)
    _collect_log(api, container, spec)
    tail = log_tail(spec.log, LOG_TAIL_LINES)
    raise SidecarFailed(
        f"service {spec.name} {outcome.error}" + (f"; its log ends:\n{tail}" if tail else " (it printed nothing)"),
        [outcome],
    )


def _collect_log(api: Any, container: str, spec: SidecarSpec) -> None:
    """The engine's copy of the service's output, streamed chunk by chunk into its log file."""
    if spec.log.exists():
        return  # read once: at the failure, or at removal
    with contextlib.suppress(Exception), LogSink(spec.log, echo=False, secrets=spec.secrets) as sink:
        for chunk in api.logs(container, stdout=True, stderr=True, stream=True, follow=False):
            sink.write(chunk)
