"""mlci.yaml's `tracking:`: runs mirrored in an MLflow server after they end (mlci/track)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator

from mlci.manifest.fields import ADDRESS_RE, TEXT_RE, ByteSize, Duration, SafePath, SecretName, Strict, Url


class MlflowArtifacts(Strict):
    max_size: ByteSize = Field(
        1 << 30,
        description="the most of the passing attempt's outputs sent as artifacts (e.g. 200m, 1g); larger outputs"
        " are left out (the run notes why)",
    )
    timeout: Duration = Field(
        600, description="the longest the artifact upload may take, after the run's data was sent (e.g. 10m)"
    )


class MlflowServer(Strict):
    """The `mlflow` service of the compose stack (sqlite backend, artifacts on the host)."""

    enabled: bool = False
    bind: Annotated[str, Field(pattern=ADDRESS_RE)] = Field(
        "127.0.0.1", description="address the MLflow UI and API are published on; a LAN address makes validate warn"
    )
    port: Annotated[int, Field(ge=1, le=65535)] = 5000
    data_dir: SafePath = Field(
        "/srv/mlci/mlflow",
        description="host directory of the sqlite database (mlflow.db) and the artifacts (artifacts/)",
    )


class Mlflow(Strict):
    uri: Url | None = Field(
        None,
        description="the tracking server, e.g. https://mlflow.acme.example; default with server.enabled: the stack's"
        " own service",
    )
    experiment: Annotated[str, Field(pattern=TEXT_RE, min_length=1, max_length=200)] | None = Field(
        None, description="the MLflow experiment every run goes to (default: the project's name)"
    )
    username: SecretName | None = Field(None, description="secret holding the tracking server's user name")
    password: SecretName | None = Field(None, description="secret holding the tracking server's password or token")
    timeout: Duration = Field(10, description="the longest a run waits for the tracking server (all requests together)")
    artifacts: MlflowArtifacts = MlflowArtifacts()
    server: MlflowServer = MlflowServer()

    @field_validator("uri")
    @classmethod
    def _plain_http(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"invalid value {value!r} — the tracking server is an http:// or https:// URL")
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("credentials do not belong in the URL — name their secrets in `username:` and `password:`")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _somewhere_to_send(self) -> Mlflow:
        if self.uri is None and not self.server.enabled:
            raise ValueError(
                "has nowhere to send runs — add `uri:` (the tracking server) or `server: {enabled: true}`"
                " (an MLflow service in the stack)"
            )
        if self.password and not self.username:
            raise ValueError("`password:` needs `username:` too (HTTP basic auth) — add it")
        return self

    def tracking_uri(self) -> str:
        """Where runs are sent: `uri`, else the stack's own service as the host reaches it."""
        if self.uri:
            return self.uri
        host = self.server.bind if self.server.bind not in ("0.0.0.0", "::") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server.port}"


class Tracking(Strict):
    mlflow: Mlflow | None = None
