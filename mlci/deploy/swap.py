"""The healthy swap: a new version replaces the one serving as `{env}-{project}` only once it is healthy.

Under a per-host lock for the deployment (two deploys of one environment's project never interleave):
1. what an interrupted deploy left is put right: a candidate is removed; a retired container whose
   successor never took the name is renamed back (and started);
2. the version already serving with the same settings, healthy, is left alone (a no-op);
3. the new version starts as `{name}_candidate` (no host port, no restart policy) and must answer its
   health check within serve.health_timeout; if it exits or does not answer, its log is saved, it is
   removed, and the old container — never touched — keeps serving;
4. the swap: the old one is renamed `{name}_retired`, the candidate takes the name (other containers
   on `mlci-{env}` now reach it by name) and its restart policy, then the old one gets SIGTERM and is
   removed. With serve.publish the host port belongs to the old container until it stops: the
   candidate is removed once proven, the old one stopped and retired, the new one created with the
   port and checked again; if that fails, it is removed and the old one restarted under its name.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci import contract
from mlci.atomic import exclusive_lock
from mlci.deploy.container import (
    LABEL_SPEC,
    STOP_GRACE_S,
    Names,
    ServeSpec,
    check_ours,
    create,
    ensure_network,
    inspect,
    restart_policy,
)
from mlci.deploy.health import Health, probe, wait_healthy, wait_restored
from mlci.deploy.logs import TAIL_LINES, log_path, save_container_log
from mlci.errors import MlciError
from mlci.runner.container import remove_container
from mlci.runner.gpus import gpu_driver_error, is_missing_gpu_driver
from mlci.runner.logsink import tail
from mlci.runner.stage_cache import cache_path

Say = Callable[[str], None]


class DeployFailed(MlciError):
    """The new version did not become healthy; what served before still serves. `log` keeps its output."""

    def __init__(self, message: str, log: Path):
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class DeployResult:
    project: str
    env: str
    version: str
    container: str
    previous: str | None  # the version it replaced (None: nothing served)
    changed: bool  # False: this version was serving already, healthy, with the same settings


def lock_path(cache_dir: str | None, names: Names) -> Path:
    """Per host (the stage-cache root): two checkouts deploying to the same engine share it."""
    return cache_path(cache_dir) / "locks" / "deploy" / f"{names.serving}.lock"


def deploy(api: Any, root: Path, spec: ServeSpec, lock: Path, say: Say) -> DeployResult:
    names, target = spec.names, spec.target
    waiting = f"another mlci deploy of {names.serving} is running on this host; waiting for it to finish"
    with exclusive_lock(lock, waiting=lambda: say(waiting)):
        ensure_network(api, target.env)
        current = _recover(api, spec, say)
        previous = _labels(current).get(contract.LABEL_VERSION) if current else None
        if current is not None and _serving_already(api, current, spec):
            return DeployResult(target.project, target.env, target.version, names.serving, previous, False)
        if current is not None and previous == target.version:
            say(f"{names.serving} runs {previous} with other settings or unhealthy: deploying it again")
        say(f"starting {target.project} {target.version} as {names.candidate}")
        candidate = _proven(api, root, spec, names.candidate, current, say, publish=False)
        if spec.serve.publish:
            remove_container(api, candidate)
            _switch_published(api, root, spec, current, say)
        else:
            _switch(api, spec, candidate, current)
        say(f"{names.serving} now serves {target.version}" + (f" (replacing {previous})" if previous else ""))
        return DeployResult(target.project, target.env, target.version, names.serving, previous, True)


def _labels(info: dict[str, Any] | None) -> dict[str, str]:
    return ((info or {}).get("Config") or {}).get("Labels") or {}


def _recover(api: Any, spec: ServeSpec, say: Say) -> dict[str, Any] | None:
    """Put right what an interrupted deploy left; the container serving now (None: none)."""
    names, env, project = spec.names, spec.target.env, spec.target.project
    candidate = check_ours(inspect(api, names.candidate), env, project)
    if candidate is not None:
        say(f"removing {names.candidate}, left by an interrupted deploy")
        remove_container(api, candidate["Id"])
    current = check_ours(inspect(api, names.serving), env, project)
    retired = check_ours(inspect(api, names.retired), env, project)
    if retired is not None and current is not None:
        remove_container(api, retired["Id"])
    elif retired is not None:
        say(f"an interrupted deploy left {names.retired}: restoring it as {names.serving}")
        api.rename(retired["Id"], names.serving)
        if not (retired.get("State") or {}).get("Running"):
            api.start(retired["Id"])
        current = inspect(api, names.serving)
    return current


def _serving_already(api: Any, current: dict[str, Any], spec: ServeSpec) -> bool:
    if _labels(current).get(LABEL_SPEC) != spec.spec_hash():
        return False
    state = current.get("State") or {}
    if not state.get("Running") or state.get("Restarting"):
        return False
    return (state.get("Health") or {}).get("Status") == "healthy" or probe(api, current["Id"], spec.serve)[0]


def _start(api: Any, container: str, spec: ServeSpec, name: str) -> None:
    from docker.errors import APIError

    try:
        api.start(container)
    except APIError as exc:
        if is_missing_gpu_driver(exc):
            raise gpu_driver_error(spec.gpu.devices, cdi=_is_cdi(spec)) from None
        raise MlciError(f"{name} did not start ({exc.explanation or exc})") from None


def _is_cdi(spec: ServeSpec) -> bool:
    request = spec.gpu.device_request
    return isinstance(request, dict) and request.get("Driver") == "cdi"


def _proven(
    api: Any, root: Path, spec: ServeSpec, name: str, current: dict[str, Any] | None, say: Say, *, publish: bool
) -> str:
    """Create and start `name`; its id once healthy. Anything else removes it and raises."""
    container = create(api, spec, name, publish=publish, restart=False)
    try:
        _start(api, container, spec, name)
        health = wait_healthy(api, container, name, spec.serve, say)
        if not health.healthy:
            raise _failed(api, root, spec, container, name, health, current)
        return container
    except BaseException:
        remove_container(api, container)
        raise


def _failed(
    api: Any, root: Path, spec: ServeSpec, container: str, name: str, health: Health, current: dict[str, Any] | None
) -> DeployFailed:
    target, serving = spec.target, spec.names.serving
    path = log_path(root, target.env, target.project, target.version)
    save_container_log(api, container, path, tuple(spec.secrets.values()), f"{name} {health.why}")
    if current is not None:
        still = f"{_labels(current).get(contract.LABEL_VERSION, '?')} keeps serving as {serving}"
    else:
        still = f"nothing serves as {serving}"
    return DeployFailed(
        f"{target.project} {target.version} did not become healthy in {target.env}: {health.why}; {still}."
        f" Its log: {path}\n{tail(path, TAIL_LINES)}",
        path,
    )


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """SIGINT/SIGTERM wait until the renames are done (they are delivered right after)."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _switch(api: Any, spec: ServeSpec, candidate: str, current: dict[str, Any] | None) -> None:
    """The proven candidate takes the name. A signal waits until both renames are done; a cancel after
    them leaves the old one retired (the next deploy removes it), never nothing serving."""
    names = spec.names
    with _uninterrupted():
        try:
            api.update_container(candidate, restart_policy=restart_policy(spec.serve))
            if current is not None:
                api.rename(current["Id"], names.retired)
            try:
                api.rename(candidate, names.serving)
            except BaseException:
                if current is not None:
                    api.rename(current["Id"], names.serving)
                raise
        except BaseException:
            remove_container(api, candidate)
            raise
    if current is not None:
        _retire(api, current["Id"])


def _switch_published(api: Any, root: Path, spec: ServeSpec, current: dict[str, Any] | None, say: Say) -> None:
    """The old one stops to free the port; the new one must prove itself again with it, or the old
    one comes back — also when this is cancelled."""
    names, serve = spec.names, spec.serve
    retired = False
    new = None
    try:
        if current is not None:
            say(f"stopping {names.serving} to free {serve.bind}:{serve.publish}")
            with _uninterrupted():
                with contextlib.suppress(Exception):
                    api.stop(current["Id"], timeout=STOP_GRACE_S)
                api.rename(current["Id"], names.retired)
                retired = True
        say(f"starting {spec.target.version} as {names.serving} on {serve.bind}:{serve.publish}")
        new = _proven(api, root, spec, names.serving, current, say, publish=True)
        api.update_container(new, restart_policy=restart_policy(serve))
    except BaseException:
        if new is not None:
            remove_container(api, new)
        if current is not None:
            with _uninterrupted():
                if retired:
                    api.rename(current["Id"], names.serving)
                api.start(current["Id"])
            say(f"restarted the previous {names.serving}")
            back = wait_restored(api, current, names.serving, say)
            if not back.healthy:
                say(f"warning: the previous {names.serving} {back.why}: nothing may be serving — see `docker logs`")
        raise
    if current is not None:
        _retire(api, current["Id"])


def _retire(api: Any, container: str) -> None:
    """SIGTERM (in-flight requests get STOP_GRACE_S to finish), then remove."""
    with contextlib.suppress(Exception):
        api.stop(container, timeout=STOP_GRACE_S)
    remove_container(api, container)
