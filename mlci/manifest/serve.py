"""project.yaml's `serve:`: how a published model version of the project serves predictions.

`mlci deploy` runs `command` in the version's image as the container `{env}-{project}`, with the
version's outputs mounted read-only at /mlci/model (MLCI_MODEL_DIR), and calls it healthy when
`GET http://<container>:<port><health>` answers 2xx within `health_timeout`. `itest`, when set, runs
in the same image against the deployed service (MLCI_SERVE_URL) before a promotion may go on to the
next environment. `mlci bundle` writes the same command, port and health path into an edge bundle's
manifest, so a device starts the model exactly as a deployment does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mlci.manifest.fields import ByteSize, Duration, Strict
from mlci.manifest.services import OneLine

# An HTTP path: no query, no spaces or control characters, nothing a shell or a URL would reinterpret.
HEALTH_PATH_RE = r"^/[A-Za-z0-9._~/-]{0,200}\Z"
SERVE_MODEL_DIR = "/mlci/model"


class Itest(Strict):
    run: OneLine = Field(description="run with sh -c in the project's image; exit 0 = the deployment works")
    timeout: Duration = 600


class Serve(Strict):
    command: OneLine = Field(description="run with sh -c in the project's image; serves HTTP on `port`")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(description="the port the command listens on in the container")
    health: Annotated[str, Field(pattern=HEALTH_PATH_RE)] = Field(
        "/health", description="HTTP path answering 2xx once the model is loaded"
    )
    health_timeout: Duration = Field(60, description="how long a new container may take to become healthy")
    publish: Annotated[int, Field(ge=1, le=65535)] | None = Field(
        None, description="host port the service is published on (127.0.0.1 unless bind is set); default: none"
    )
    bind: Literal["127.0.0.1", "0.0.0.0", "::1", "::"] = Field(
        "127.0.0.1", description="the host address `publish` listens on"
    )
    gpus: Literal["none", "all"] | Annotated[int, Field(ge=1, le=64)] = Field(
        "none", description="none, all, or a count of GPUs for the serving container"
    )
    memory: ByteSize | None = Field(None, description="memory limit, e.g. 2g (default: none)")
    cpus: Annotated[float, Field(gt=0, le=1024)] | None = Field(None, description="CPU limit, e.g. 1.5")
    restart: Literal["unless-stopped", "always", "on-failure", "no"] = "unless-stopped"
    itest: Itest | None = None
