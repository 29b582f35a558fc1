"""Send a finished run to an MLflow tracking server with MLflow's own client (`mlci[mlflow]`,
the lightweight `mlflow-skinny`), within a bounded time.

A tracker that is down, slow or refuses never fails a run: every request goes out once (no
client retries) with a per-request timeout, the whole exchange runs against a deadline
(`tracking.mlflow.timeout`; the artifact upload has its own, `artifacts.timeout`), and what went
wrong becomes `Tracking.warning` in the record. Sending again is idempotent: the parent run is
found by the run id in the record (or by its `mlci.project`/`mlci.job` tags when an earlier try
timed out before noting it), its children by their attempt tags, and params, tags and metrics
(with the record's own timestamps) are the same values again.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from mlci.manifest import Manifest
from mlci.manifest.tracking import Mlflow
from mlci.record.model import Tracking
from mlci.record.store import RunRecord
from mlci.secrets import lookup, redact
from mlci.track.payload import (
    ATTEMPT_TAG,
    JOB_TAG,
    KIND_TAG,
    PARENT_TAG,
    PROJECT_TAG,
    Payload,
    TrackedRun,
    build_payload,
    run_url,
)
from mlci.track.uri import tracking_uri


def _library() -> Any | None:
    """The MLflow client library (the optional extra), imported on first use: `mlci run` without
    `tracking:` never pays its import (about 1 s). None when it is not installed."""
    try:
        import mlflow.entities
        import mlflow.exceptions
        import mlflow.tracking
    except ImportError:  # tracking says so instead of failing
        return None
    return mlflow


def _is_mlflow_error(exc: BaseException, code: str | None = None) -> bool:
    lib = _library()
    return (
        lib is not None and isinstance(exc, lib.exceptions.MlflowException) and (code is None or exc.error_code == code)
    )


INSTALL_HINT = "the MLflow client is not installed — pip install 'mlci[mlflow]'"
T = TypeVar("T")


class TrackingFailed(Exception):
    """The server could not take the run (down, slow, refused); the message goes into the record."""


@dataclass
class Progress:
    """What the server holds so far: survives a deadline that cuts the exchange short."""

    experiment_id: str | None = None
    run_id: str | None = None


def track_run(root: Path, manifest: Manifest, record: RunRecord) -> Tracking:
    """Send `record` (a finished run) to the manifest's MLflow server; the outcome is saved as
    `record.state.tracking` and returned. Never raises for the server's problems."""
    settings = manifest.tracking.mlflow
    if settings is None:
        raise ValueError("tracking.mlflow is not configured")  # callers check first: a bug, not a user error
    uri = tracking_uri(settings)
    tracking = _send(uri, settings, record)
    record.state.tracking = tracking
    record.save()
    return tracking


def _send(uri: str, settings: Mlflow, record: RunRecord) -> Tracking:
    earlier = record.state.tracking
    progress = Progress()
    if earlier is not None and earlier.server == uri:
        progress.experiment_id, progress.run_id = earlier.experiment_id, earlier.run_id
    lib = _library()
    if lib is None:
        return _tracking(uri, progress, INSTALL_HINT)
    try:
        payload = build_payload(record, max_artifact_bytes=settings.artifacts.max_size)
    except OSError as exc:  # the run's outputs became unreadable (permissions, a vanished file)
        return _tracking(uri, progress, f"cannot read the run's outputs: {exc.strerror or exc}")
    experiment = settings.experiment or record.project
    try:
        with _client_settings(settings):
            client = lib.tracking.MlflowClient(tracking_uri=uri)
            _within(
                settings.timeout,
                "the tracking server",
                client,
                lambda guarded: _send_runs(guarded, experiment, payload, progress),
            )
            if payload.artifacts.directory is not None:
                _within(
                    settings.artifacts.timeout,
                    "the artifact upload",
                    client,
                    lambda guarded: _send_artifacts(guarded, progress, payload),
                )
    except TrackingFailed as exc:
        return _tracking(uri, progress, f"{exc}; send it again with `mlci track {record.project} {record.job_id}`")
    return _tracking(uri, progress, None)


def _tracking(uri: str, progress: Progress, warning: str | None) -> Tracking:
    url = run_url(uri, progress.experiment_id, progress.run_id) if progress.experiment_id and progress.run_id else None
    return Tracking(
        server=uri,
        experiment_id=progress.experiment_id,
        run_id=progress.run_id,
        url=url,
        warning=redact(warning) if warning else None,
    )


# ------------------------------------------------------------------ bounded time


@contextlib.contextmanager
def _client_settings(settings: Mlflow) -> Iterator[None]:
    """MLflow's client reads its HTTP settings and credentials from the environment on every
    request (mlflow/environment_variables.py): one try per request, each bounded by the timeout."""
    values = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, settings.timeout)),
        # set_terminated would print "View run … at" to stdout (and fetch the run again for it)
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }
    for name, secret in (
        ("MLFLOW_TRACKING_USERNAME", settings.username),
        ("MLFLOW_TRACKING_PASSWORD", settings.password),
    ):
        if secret is None:
            continue
        value = lookup(secret)
        if value is None:
            raise TrackingFailed(f"secret {secret} (tracking.mlflow) is not set")
        values[name] = value
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Guarded:
    """The client, refusing every call once its exchange was abandoned: a request in flight cannot
    be taken back, but no further run is created behind the record's back."""

    def __init__(self, client: Any, stop: threading.Event):
        self._client, self._stop = client, stop

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._stop.is_set():
                raise TrackingFailed("abandoned after its deadline")
            return method(*args, **kwargs)

        return call


def _within(seconds: float, what: str, client: Any, work: Callable[[Any], T]) -> T:
    """`work(client)` in a daemon thread, waited for at most `seconds`: a server that accepts and
    never answers cannot hold the run (an abandoned thread ends with the process)."""
    box: dict[str, Any] = {}
    stop = threading.Event()

    def target() -> None:
        try:
            box["value"] = work(_Guarded(client, stop))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="mlci-track", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        stop.set()
        raise TrackingFailed(f"{what} did not answer within {seconds:g}s")
    if isinstance(box.get("error"), TrackingFailed):
        raise box["error"]
    if "error" in box:
        raise TrackingFailed(_describe(box["error"]))
    return box["value"]


def _describe(exc: BaseException) -> str:
    text = exc.message if _is_mlflow_error(exc) else f"{type(exc).__name__}: {exc}"  # type: ignore[attr-defined]
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"MLflow refused or failed: {first[:300]}"


# ------------------------------------------------------------------ the exchange


def _send_runs(client: Any, experiment: str, payload: Payload, progress: Progress) -> None:
    progress.experiment_id = _experiment_id(client, experiment)
    parent = payload.parent
    run_id = _existing_parent(client, progress, parent)
    if run_id is None:
        run_id = client.create_run(
            progress.experiment_id, start_time=parent.start_ms, tags=_identity(parent), run_name=parent.name
        ).info.run_id
    progress.run_id = run_id
    _log(client, run_id, parent)
    children = _existing_children(client, progress.experiment_id, run_id)
    for child in payload.children:
        child_id = children.get(str(child.attempt))
        if child_id is None:
            tags = {**_identity(child), PARENT_TAG: run_id}
            child_id = client.create_run(
                progress.experiment_id, start_time=child.start_ms, tags=tags, run_name=child.name
            ).info.run_id
        _log(client, child_id, child, parent_id=run_id)
        client.set_terminated(child_id, status=child.status, end_time=child.end_ms)
    client.set_terminated(run_id, status=parent.status, end_time=parent.end_ms)


def _experiment_id(client: Any, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name)
        except Exception as exc:  # created by another run meanwhile
            if not _is_mlflow_error(exc, "RESOURCE_ALREADY_EXISTS"):
                raise
            experiment = client.get_experiment_by_name(name)
    if experiment.lifecycle_stage != "active":
        raise TrackingFailed(
            f"MLflow experiment {name!r} is deleted — restore it in MLflow or set tracking.mlflow.experiment"
        )
    return experiment.experiment_id


def _identity(run: TrackedRun) -> dict[str, str]:
    keys = (KIND_TAG, PROJECT_TAG, JOB_TAG, ATTEMPT_TAG)
    return {k: run.tags[k] for k in keys if k in run.tags}


def _existing_parent(client: Any, progress: Progress, parent: TrackedRun) -> str | None:
    """The run an earlier send made: by the run id the record kept, else by its tags (an earlier
    send may have timed out after creating it, before the record could note the id)."""
    if progress.run_id:
        try:
            run = client.get_run(progress.run_id)
        except Exception as exc:
            if not _is_mlflow_error(exc, "RESOURCE_DOES_NOT_EXIST"):
                raise
        else:
            if run.info.lifecycle_stage == "active" and run.info.experiment_id == progress.experiment_id:
                return progress.run_id
    # project and job names are validated (letters, digits, . _ -): safe inside the filter's quotes
    found = client.search_runs(
        [progress.experiment_id],
        filter_string=(
            f"tags.`{KIND_TAG}` = 'run' and tags.`{PROJECT_TAG}` = '{parent.tags[PROJECT_TAG]}'"
            f" and tags.`{JOB_TAG}` = '{parent.tags[JOB_TAG]}'"
        ),
        max_results=1,
    )
    return found[0].info.run_id if found else None


def _existing_children(client: Any, experiment_id: str, parent_id: str) -> dict[str, str]:
    found = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}' and tags.`{KIND_TAG}` = 'attempt'",
        max_results=1000,
    )
    return {run.data.tags.get(ATTEMPT_TAG, ""): run.info.run_id for run in found}


def _log(client: Any, run_id: str, run: TrackedRun, parent_id: str | None = None) -> None:
    stamp = run.end_ms or run.start_ms or 0
    entities = _library().entities  # type: ignore[union-attr]  # _send checked it is installed
    Metric, Param, RunTag = entities.Metric, entities.Param, entities.RunTag
    metrics = [Metric(k, v, stamp, run.step) for k, v in sorted(run.metrics.items()) if not math.isinf(v)]
    params = [Param(k, v) for k, v in sorted(run.params.items())]
    tags = [RunTag(k, v) for k, v in sorted(run.tags.items())]
    if parent_id:
        tags.append(RunTag(PARENT_TAG, parent_id))
    client.log_batch(run_id, metrics=metrics, params=params, tags=tags)


def _send_artifacts(client: Any, progress: Progress, payload: Payload) -> None:
    """The outputs under `outputs/`; a file the run already holds at the same size is not sent again
    (a resend after a timeout uploads what is missing, not the whole model)."""
    artifacts = payload.artifacts
    assert artifacts.directory is not None and progress.run_id is not None
    held = _held_sizes(client, progress.run_id, "outputs")
    for relative in artifacts.files:
        local = artifacts.directory / relative
        if held.get(f"outputs/{relative}") == local.stat().st_size:
            continue
        folder = str(Path("outputs", relative).parent.as_posix())
        client.log_artifact(progress.run_id, str(local), artifact_path=folder)


def _held_sizes(client: Any, run_id: str, path: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            sizes.update(_held_sizes(client, run_id, info.path))
        elif info.file_size is not None:
            sizes[info.path] = info.file_size
    return sizes
