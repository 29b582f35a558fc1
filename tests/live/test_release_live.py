"""Against a real Jenkins: load the rendered configuration, then run the release job on a sample
merge and check its result. Runs only when MLCI_JENKINS_URL and MLCI_JENKINS_TOKEN are set; the CI
of this repository cannot run it (no Jenkins can be installed on its machines), so it is skipped
there and says why.

Environment: MLCI_JENKINS_URL, MLCI_JENKINS_TOKEN (an API token), MLCI_JENKINS_USER (default admin),
MLCI_LIVE_BASE / MLCI_LIVE_HEAD (the sample merge; default HEAD~1 / HEAD of this checkout, which must
be pushed to the repository Jenkins clones), MLCI_LIVE_TIMEOUT (seconds, default 3600). A URL that is
not on this machine (127.0.0.1, ::1, localhost) also needs MLCI_LIVE_REMOTE_OK=1.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
URL = os.environ.get("MLCI_JENKINS_URL", "").rstrip("/")
TOKEN = os.environ.get("MLCI_JENKINS_TOKEN", "")
USER = os.environ.get("MLCI_JENKINS_USER", "admin")
JOB = "mlci-release"

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not (URL and TOKEN),
        reason="live Jenkins suite: set MLCI_JENKINS_URL and MLCI_JENKINS_TOKEN to run it "
        "(this repository's CI has no Jenkins: none can be installed on its machines)",
    ),
]


def request(method: str, path: str, body: bytes | None = None, content_type: str = "text/plain") -> bytes:
    host = urllib.parse.urlsplit(URL).hostname
    if host not in ("127.0.0.1", "::1", "localhost") and os.environ.get("MLCI_LIVE_REMOTE_OK") != "1":
        pytest.fail(f"{URL} is not on this machine: set MLCI_LIVE_REMOTE_OK=1 to allow it")
    auth = base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
    req = urllib.request.Request(f"{URL}{path}", data=body, method=method)
    req.add_header("Authorization", f"Basic {auth}")
    if body is not None:
        req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=60) as response:
        return response.read()


def api(path: str) -> dict:
    return json.loads(request("GET", f"{path}/api/json"))


def git_sha(ref: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_rendered_configuration_loads():
    casc = REPO / "jenkins" / "casc.yaml"
    assert casc.is_file(), "run `mlci render` first: jenkins/casc.yaml is missing"
    request("POST", "/configuration-as-code/apply", casc.read_bytes(), "application/x-yaml")
    params = {
        p["name"] for prop in api(f"/job/{JOB}").get("property", []) for p in prop.get("parameterDefinitions", []) or []
    }
    assert {"BASE_REF", "HEAD_REF", "PROJECTS", "FORCE"} <= params


def test_the_release_job_runs_a_sample_merge():
    base = os.environ.get("MLCI_LIVE_BASE") or git_sha("HEAD~1")
    head = os.environ.get("MLCI_LIVE_HEAD") or git_sha("HEAD")
    query = urllib.parse.urlencode({"BASE_REF": base, "HEAD_REF": head, "PROJECTS": "", "FORCE": "false"})
    before = (api(f"/job/{JOB}").get("lastBuild") or {}).get("number", 0)
    request("POST", f"/job/{JOB}/buildWithParameters?{query}", b"")
    deadline = time.monotonic() + int(os.environ.get("MLCI_LIVE_TIMEOUT", "3600"))
    build = None
    while time.monotonic() < deadline:
        last = api(f"/job/{JOB}").get("lastBuild") or {}
        if last.get("number", 0) > before:
            build = api(f"/job/{JOB}/{last['number']}")
            if not build["building"]:
                break
        time.sleep(10)
    assert build is not None and not build["building"], "the release build did not finish in time"
    log = request("GET", f"/job/{JOB}/{build['number']}/consoleText").decode(errors="replace")
    assert "mlci plan" in log
    assert build["result"] in ("SUCCESS", "NOT_BUILT"), log[-4000:]
    if build["result"] == "NOT_BUILT":
        assert "Nothing to train" in (build.get("description") or "")
    else:
        assert head[:7] in build["displayName"]
