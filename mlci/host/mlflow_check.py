"""`mlci doctor`'s MLflow check: the tracking server of `tracking.mlflow` answers /health, and the
client runs are sent with is installed."""

from __future__ import annotations

import importlib.util
import urllib.error
import urllib.request

from mlci import secrets
from mlci.manifest.schema import Manifest
from mlci.track.uri import tracking_uri


def mlflow_check(manifest: Manifest) -> tuple[bool | None, str, str]:
    """(ok, detail, fix); ok None when tracking is not configured."""
    settings = manifest.tracking.mlflow
    if settings is None:
        return None, "skipped: tracking.mlflow is not set", ""
    uri = tracking_uri(settings)
    try:
        # MLflow answers /health without authentication (mlflow/server/security_utils.is_health_endpoint)
        with urllib.request.urlopen(f"{uri}/health", timeout=settings.timeout) as answer:
            body = answer.read(64).decode("utf-8", "replace").strip()
            status = answer.status
    except urllib.error.HTTPError as exc:
        return False, f"{uri}/health answered HTTP {exc.code}", "is this an MLflow server? check tracking.mlflow.uri"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        hint = (
            "start the stack's service (docker compose up -d mlflow in /srv/mlci/compose)"
            if settings.server.enabled and not settings.uri
            else "check tracking.mlflow.uri and that the server runs; runs are still recorded, `mlci track` sends them later"
        )
        return False, secrets.redact(f"{uri} is not reachable: {reason}"), hint
    if status != 200 or body != "OK":
        return (
            False,
            f"{uri}/health answered {status} {body[:40]!r}",
            "is this an MLflow server? check tracking.mlflow.uri",
        )
    if importlib.util.find_spec("mlflow") is None:
        return False, f"{uri} is up, but the MLflow client is not installed here", "pip install 'mlci[mlflow]'"
    return True, f"{uri} answers /health", ""
