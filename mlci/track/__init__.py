"""Experiment tracking: a finished run, read from its record, mirrored in MLflow (mlci/track/mlflow.py).

The MLflow client is an optional extra (`pip install 'mlci[mlflow]'`); this package imports it only
when a run is tracked, so `mlci run` without `tracking:` never pays its import.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mlci.manifest import Manifest
from mlci.manifest.schema import URL_RE, Mlflow
from mlci.record.model import Tracking
from mlci.record.store import RunRecord


def track_run(root: Path, manifest: Manifest, record: RunRecord) -> Tracking:
    """Send `record` to the manifest's MLflow server and note where (or why not) in the record.
    Never raises for the server's problems: they come back as `Tracking.warning`."""
    from mlci.track import mlflow  # the optional extra, loaded on use (see the module docstring)

    return mlflow.track_run(root, manifest, record)


def tracking_uri(settings: Mlflow) -> str:
    """Where runs are sent: `uri` when set; else, for the stack's own server, MLFLOW_TRACKING_URI
    when the environment names one (the Jenkins container reaches the service by its name), else
    the address the server is published on."""
    if settings.uri:
        return settings.uri
    env = os.environ.get("MLFLOW_TRACKING_URI", "")
    if env.startswith(("http://", "https://")) and re.fullmatch(URL_RE, env) and "@" not in env:
        return env.rstrip("/")
    return settings.tracking_uri()
