"""Names mlci shares with the Jenkins library, the rendered files and the stage containers.

Each is defined once here; the Groovy library keeps its own copies (it cannot import Python), and
tests/library/test_contract_names.py checks those copies against this module. The run record's
statuses live with the record (mlci.record.model.RunStatus, FINAL).
"""

from __future__ import annotations

import re
from pathlib import Path

# ------------------------------------------------------------------ names
# A job id becomes a directory name, a container label and part of store paths: fullmatch, never `$`
# (which would let a trailing newline through).
JOB_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
JOB_ID_RE = re.compile(JOB_ID_PATTERN)
PROJECT_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
PROJECT_RE = re.compile(PROJECT_PATTERN)
# A Git ref the experiment job accepts as REF (a branch, tag, commit or revision expression): no
# whitespace or shell characters, and never an option (no leading '-', checked apart).
REF_PATTERN = r"[A-Za-z0-9_./@+~^{}-]{1,255}"
REF_RE = re.compile(REF_PATTERN)

# ------------------------------------------------------------------ where run records live
RUNS_DIR = Path(".mlci") / "runs"  # below the checkout, unless RUNS_DIR_ENV says otherwise
RUNS_DIR_ENV = "MLCI_RUNS_DIR"
# An absolute path of plain segments: no `..` (no walking out), no control characters or newline.
# mlciTrain.groovy applies the same rule before it trusts a node's MLCI_RUNS_DIR.
RUNS_DIR_PATTERN = r"/[A-Za-z0-9._/@+~-]{0,4095}"
RUNS_DIR_RE = re.compile(RUNS_DIR_PATTERN)
STATUS_FILE = "status.json"


def runs_dir_usable(value: str) -> bool:
    """The runs-dir rule: absolute, plain segments, no '..', not `/` itself."""
    return bool(RUNS_DIR_RE.fullmatch(value)) and ".." not in value.split("/") and bool(value.strip("/"))


# ------------------------------------------------------------------ stage containers
CONTAINER_OUT = "/mlci/out"
CONTAINER_CACHE = "/mlci/cache"
CONTAINER_CONFIG = "/mlci/config.yaml"
CONTAINER_PREVIOUS = "/mlci/previous"  # attempt n-1's outputs, read-only, for attempt n (retrain feedback)

LABEL_PROJECT = "mlci.project"
LABEL_JOB = "mlci.job"
LABEL_STAGE = "mlci.stage"
LABEL_ATTEMPT = "mlci.attempt"
LABEL_OWNER_HOST = "mlci.owner.host"
LABEL_OWNER_PID = "mlci.owner.pid"
LABEL_OWNER_START = "mlci.owner.start"
LABEL_OWNER_BOOT = "mlci.owner.boot"
LABEL_CHECKOUT = "mlci.checkout"

# ------------------------------------------------------------------ serving containers (mlci deploy)
# Every container `mlci deploy` makes carries LABEL_SERVE: the serving one, a candidate under health check
# and a retired one being swapped out. They outlive the mlci that made them on purpose, so the cleanup
# backstops (mlci cleanup, the leftover cleanup of mlci run) never touch a container with this label.
LABEL_SERVE = "mlci.serve"
LABEL_ENV = "mlci.env"
LABEL_VERSION = "mlci.version"
