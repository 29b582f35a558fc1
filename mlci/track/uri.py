"""Where a run's data goes: the MLflow tracking URI for a manifest's `tracking.mlflow`."""

from __future__ import annotations

import os
import re

from mlci.manifest.fields import URL_RE
from mlci.manifest.tracking import Mlflow


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
