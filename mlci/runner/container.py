"""One stage = one container: created with the contract's labels, mounts, env and GPU request,
its output streamed while it runs, stopped on timeout or cancellation, and always removed."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlci.errors import MlciError
from mlci.runner import resources
from mlci.runner import stage_cache as cache
from mlci.runner.gpus import gpu_driver_error, is_missing_gpu_driver
from mlci.runner.logsink import LogSink, LogWriteError
from mlci.runner.stage_spec import StageSpec

if TYPE_CHECKING:
    import docker

# docker-py (with requests, ~0.3 s) is imported in the functions that talk to the engine, so that
# commands which never do (`mlci --help`, validate, status) do not pay for it; tests/test_layout.py checks.

STOP_GRACE_S = 5  # SIGTERM, then SIGKILL: well inside the 10 s a cancelled run must take


@dataclass
class StageResult:
    status: str  # Succeeded | Failed | Timed Out
    exit_code: int | None
    duration_s: float
    device_requests: list[dict] | None = field(default=None)
    services: list[Any] = field(default_factory=list)  # runner.sidecars.SidecarOutcome of each service


def run_stage(client: docker.DockerClient, spec: StageSpec, sink: LogSink) -> StageResult:
    """Run one stage to completion. Raises on start failures; KeyboardInterrupt/Cancelled pass through
    after the container is stopped and removed."""
    with project_cache(spec) as spec:
        return _run_stage(client, spec, sink)


# ---------------------------------------------------------------- the per-project cache hook
@contextlib.contextmanager
def project_cache(spec: StageSpec) -> Iterator[StageSpec]:
    """Narrow the cache mount to the project's own cache (mlci/runner/stage_cache.py), point the library caches
    (HF_HOME, PIP_CACHE_DIR, TORCH_HOME, XDG_CACHE_HOME) into it, and hold it for the stage so a
    prune cannot delete it underneath. The stage's own env wins over these defaults."""
    if spec.cache_root is None or not spec.project:
        yield spec
        return
    with cache.using(spec.cache_root, spec.project) as directory:
        binds = {**spec.binds, str(directory): {"bind": cache.CONTAINER_CACHE, "mode": "rw"}}
        yield dataclasses.replace(spec, binds=binds, env={**cache.CACHE_ENV, **spec.env})


# ---------------------------------------------------------------- one container
def _run_stage(client: docker.DockerClient, spec: StageSpec, sink: LogSink) -> StageResult:
    from docker.errors import APIError

    api = client.api
    host_config = api.create_host_config(
        binds=spec.binds,
        device_requests=[spec.device_request] if spec.device_request is not None else None,
        devices=[f"{node}:{node}:rwm" for node in spec.gpu.device_nodes] or None,
        log_config={
            "type": spec.log_driver,
            "config": {"max-size": "20m", "max-file": "3"} if spec.log_driver != "none" else {},
        },
        init=True,  # signals reach the stage's process tree; zombies are reaped
        **resources.host_options(spec),  # shm, IPC, ulimits
    )
    container_id = api.create_container(
        spec.image,
        command=spec.command,
        environment=resources.environment(spec),  # + CUDA_DEVICE_ORDER, MLCI_GPU_UUIDS
        labels=spec.labels,
        user=spec.user,
        host_config=host_config,
        name=None,
    )["Id"]
    started = time.monotonic()
    try:
        if spec.network:  # beside the default network: the stage reaches its services by name
            api.connect_container_to_network(container_id, spec.network)
        # what the engine stored for a GPU request goes into the record; a CPU stage has none to read
        device_requests = (
            api.inspect_container(container_id)["HostConfig"].get("DeviceRequests") if spec.device_request else None
        )
        # attach before start so that not a byte of output is missed, whatever the log driver
        stream = api.attach_socket(container_id, params={"stdout": 1, "stderr": 1, "stream": 1, "logs": 0})
        failures: list[LogWriteError] = []  # the log could not be written: the stage stops at once
        streamer = threading.Thread(target=_stream_frames, args=(stream, sink, failures), daemon=True)
        try:
            api.start(container_id)
        except APIError as exc:
            if is_missing_gpu_driver(exc):
                err = gpu_driver_error(spec.gpu.devices, cdi=(spec.device_request or {}).get("Driver") == "cdi")
                err.device_requests = device_requests  # type: ignore[attr-defined]
                raise err from None
            raise MlciError(
                f"stage {spec.name}: the container did not start ({exc.explanation or exc})",
                hint=resources.rlimit_hint(exc),
            ) from None
        streamer.start()
        exit_code, timed_out = _wait(api, container_id, started + spec.timeout_s, failures)
        streamer.join(timeout=120)  # the stream ends once the engine has flushed the last bytes
        if failures:
            raise failures[0]
        duration = time.monotonic() - started
        if timed_out:
            sink.write(f"\nmlci: stage {spec.name} exceeded its timeout of {spec.timeout_s}s and was stopped\n")
            return StageResult("Timed Out", exit_code, duration, device_requests)
        status = "Succeeded" if exit_code == 0 else "Failed"
        return StageResult(status, exit_code, duration, device_requests)
    except BaseException:
        stop_container(api, container_id)  # cancelled: give the stage its SIGTERM grace first
        raise
    finally:
        remove_container(api, container_id)


def _stream_frames(stream: object, sink: LogSink, failures: list[LogWriteError]) -> None:
    """Copy the engine's multiplexed attach stream (8-byte header + payload frames) to the sink,
    in bounded chunks, until the container's output ends. A log that cannot be written is handed
    to the waiting thread (which stops the container), never left to kill this thread unseen."""
    reader = io.BufferedReader(stream, buffer_size=1 << 20)  # type: ignore[arg-type]
    try:
        while len(header := reader.read(8)) == 8:
            stream, left = struct.unpack(">BxxxL", header)
            while left:
                chunk = reader.read(min(left, 1 << 20))
                if not chunk:
                    return
                sink.write(chunk, stream)  # masking is per stream (1 stdout, 2 stderr)
                left -= len(chunk)
    except LogWriteError as exc:
        failures.append(exc)
    except (OSError, ValueError) as exc:  # the container went away under us (cancel/timeout)
        with contextlib.suppress(LogWriteError):
            sink.write(f"\nmlci: log stream ended: {type(exc).__name__}\n".encode())
    finally:
        reader.close()


def _wait(api: Any, container_id: str, deadline: float, failures: list) -> tuple[int | None, bool]:
    """Wait for exit in short slices so a signal handler, the deadline and a failed log write all
    act promptly."""
    import requests

    while True:
        if failures:  # the log cannot be written: stop the stage now rather than at its timeout
            stop_container(api, container_id)
            return _exit_code(api, container_id), False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            stop_container(api, container_id)
            return _exit_code(api, container_id), True
        try:
            result = api.wait(container_id, timeout=min(remaining, 2.0))
            return int(result.get("StatusCode", -1)), False
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            continue


def _exit_code(api: Any, container_id: str) -> int | None:
    try:
        return api.inspect_container(container_id)["State"]["ExitCode"]
    except Exception:
        return None


def stop_container(api: Any, container_id: str) -> None:
    with contextlib.suppress(Exception):
        api.stop(container_id, timeout=STOP_GRACE_S)


def remove_container(api: Any, container_id: str) -> None:
    """Force-remove; used on every exit path (a cancelled run must leave nothing behind)."""
    with contextlib.suppress(Exception):
        api.remove_container(container_id, force=True, v=True)
