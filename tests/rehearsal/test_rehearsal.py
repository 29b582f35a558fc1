"""Release rehearsal: the scratch monorepo's root Jenkinsfile under the library harness with a REAL
`sh` in a real Git checkout. mlci plan → mlci run on the real Docker engine → gate → approval →
mlci publish to an S3 server (moto, 127.0.0.1) → Slack payloads to a Slack double. One project
needs HF_TOKEN and downloads from a Hub double; the release range (a merged branch) touches both.

Variants, in one JVM: a second release build of one project (distinct ids, both published),
approval rejected (nothing published), abort mid-stage (containers gone, record Cancelled, build
ABORTED, Slack "cancelled"), time limit hit (FAILURE). Jenkins itself cannot run here (DESIGN.md);
the parts it would run are real.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import moto.server as moto_server  # the test extra installs it: no silent skip
import pytest

from mlci.manifest.schema import DEFAULT_BASE_IMAGE
from mlci.render.jenkins import SOFT_KILL_WAIT_S
from tests.conftest import FIXTURE_DOCKERFILE
from tests.library import harness

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HF_TOKEN = "hf_rehearsal_" + uuid.uuid4().hex
SLACK_PATH = "/services/T000/B000/rehearsal"
BUCKET = "rehearsal-models"
TAG = uuid.uuid4().hex[:6]
DIGITS, FETCH = f"rh-digits-{TAG}", f"rh-fetch-{TAG}"
JENKINSFILE = "@Library('mlci') _\nmlciRelease()\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Slack(BaseHTTPRequestHandler):
    """An incoming-webhook double: POST JSON to the one webhook path, only the keys Slack knows."""

    received: ClassVar[list[dict]] = []
    KEYS: ClassVar[set[str]] = {
        "text",
        "blocks",
        "channel",
        "attachments",
        "username",
        "icon_emoji",
        "mrkdwn",
        "thread_ts",
    }

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != SLACK_PATH:
            return self._answer(404, "no_service")
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self._answer(400, "invalid_payload")
        try:
            payload = json.loads(body)
        except ValueError:
            return self._answer(400, "invalid_payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str) or set(payload) - self.KEYS:
            return self._answer(400, "invalid_payload")
        self.received.append(payload)
        self._answer(200, "ok")

    def _answer(self, status: int, text: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args) -> None:
        pass


# The Hub double runs inside the stage's own container on its 127.0.0.1 (tests address no other
# host). It is strict about auth: it knows only the token's sha256 (committed with the project),
# so the stage gets the file only if Jenkins' credential binding really passed HF_TOKEN in.
HUB_PY = """\
import hashlib, http.server, sys
TOKEN_SHA256 = sys.argv[1]
class Hub(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != '/acme/base-model/resolve/main/vocab.txt':
            self.send_response(404); self.end_headers(); self.wfile.write(b'Entry not found'); return
        auth = self.headers.get('Authorization') or ''
        if not auth.startswith('Bearer ') or hashlib.sha256(auth[7:].encode()).hexdigest() != TOKEN_SHA256:
            self.send_response(401); self.end_headers(); self.wfile.write(b'Invalid credentials'); return
        self.send_response(200); self.end_headers(); self.wfile.write(b'zero one two three\\n')
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', 8080), Hub).serve_forever()
"""
HUB_URL = "http://127.0.0.1:8080"

TRAIN = """\
import json, os, signal, sys, time
out = os.environ["MLCI_OUTPUT_DIR"]
signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
open(os.path.join(out, "started"), "w").close()
seconds = float(open(os.environ["MLCI_CONFIG"]).read().split("sleep:")[1].split()[0])
time.sleep(seconds)
open(os.path.join(out, "model.bin"), "wb").write(b"weights")
json.dump({"accuracy": 0.95}, open(os.path.join(out, "metrics.json"), "w"))
"""

FETCH_PY = """\
import json, os, time, urllib.error, urllib.request
hub = open(os.environ["MLCI_CONFIG"]).read().split("hub:")[1].split()[0]
request = urllib.request.Request(hub + "/acme/base-model/resolve/main/vocab.txt",
                                 headers={"Authorization": "Bearer " + os.environ["HF_TOKEN"]})
for _ in range(100):  # the double starts beside this script, in the same container
    try:
        vocab = urllib.request.urlopen(request, timeout=30).read()
        break
    except urllib.error.URLError as exc:
        if getattr(exc, "code", None):
            raise
        time.sleep(0.1)
print("downloaded", len(vocab.split()), "words; token", os.environ["HF_TOKEN"])
out = os.environ["MLCI_OUTPUT_DIR"]
open(os.path.join(out, "vocab.txt"), "wb").write(vocab)
json.dump({"words": len(vocab.split())}, open(os.path.join(out, "metrics.json"), "w"))
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def scratch_monorepo(origin: Path, s3_port: int, hub_url: str = HUB_URL) -> None:
    """origin: main = first release, then a merged release branch touching both projects; branch
    `slow` on top, where digits trains for ten minutes."""
    git(origin.parent, "init", "-q", "-b", "main", str(origin))
    write(origin, "Jenkinsfile", JENKINSFILE)
    write(
        origin,
        "mlci.yaml",
        textwrap.dedent(f"""\
            version: 1
            name: rehearsal
            hosts:
              - {{name: gpu-01, address: 127.0.0.1, gpus: 0, roles: [controller, agent]}}
            build: {{base_image: {DEFAULT_BASE_IMAGE}}}
            artifacts:
              default: s3
              stores:
                s3:
                  type: s3
                  bucket: {BUCKET}
                  endpoint_url: http://127.0.0.1:{s3_port}
                  region: us-east-1
                  access_key_id: REHEARSAL_S3_KEY
                  secret_access_key: REHEARSAL_S3_SECRET
            notifications: {{slack: {{webhook: SLACK_WEBHOOK_URL}}}}
            """),
    )
    for name in (DIGITS, FETCH):
        write(origin, f"projects/{name}/Dockerfile", FIXTURE_DOCKERFILE)
    write(
        origin,
        f"projects/{DIGITS}/project.yaml",
        "gpus: none\ntimeout: 10m\nstages: [{name: train, run: exec python3 train.py}]\n"
        "gate: {metric: accuracy, min: 0.9}\n"
        "publish: {store: s3, approval: true, submitter: alice, approval_timeout: 1h}\n",
    )
    write(origin, f"projects/{DIGITS}/train.py", TRAIN)
    write(origin, f"projects/{DIGITS}/config.yaml", "sleep: 0\n")
    write(
        origin,
        f"projects/{FETCH}/project.yaml",
        "gpus: none\ntimeout: 5m\nsecrets: [HF_TOKEN]\n"
        f"stages: [{{name: fetch, run: 'python3 hub.py {hashlib.sha256(HF_TOKEN.encode()).hexdigest()} & exec python3 fetch.py'}}]\n",
    )
    write(origin, f"projects/{FETCH}/fetch.py", FETCH_PY)
    write(origin, f"projects/{FETCH}/hub.py", HUB_PY)
    write(origin, f"projects/{FETCH}/config.yaml", f"hub: {hub_url}\n")
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "first release")
    git(origin, "checkout", "-q", "-b", "release/2026-11")
    write(origin, f"projects/{DIGITS}/config.yaml", "sleep: 0.5\n")
    write(origin, f"projects/{FETCH}/config.yaml", f"hub: {hub_url}\n# v2\n")
    git(origin, "commit", "-qam", "tune both projects")
    git(origin, "checkout", "-q", "main")
    git(origin, "merge", "-q", "--no-ff", "-m", "Merge release/2026-11", "release/2026-11")
    git(origin, "checkout", "-q", "-b", "slow")
    write(origin, f"projects/{DIGITS}/config.yaml", "sleep: 600\n")
    git(origin, "commit", "-qam", "digits trains for ten minutes")
    git(origin, "checkout", "-q", "main")


@pytest.fixture(scope="module")
def world(tmp_path_factory, base_image):
    tmp = tmp_path_factory.mktemp("rehearsal")
    s3_port = free_port()
    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    s3.start()
    slack = ThreadingHTTPServer(("127.0.0.1", free_port()), Slack)
    threading.Thread(target=slack.serve_forever, daemon=True).start()
    try:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            region_name="us-east-1",
            aws_access_key_id="rehearsal",
            aws_secret_access_key="rehearsal-secret",
        )
        client.create_bucket(Bucket=BUCKET)
        origin = tmp / "origin"
        scratch_monorepo(origin, s3_port)
        workspace = tmp / "workspace"  # what Jenkins' `checkout scm` leaves: a clone with origin/* only
        git(tmp, "clone", "-q", str(origin), str(workspace))
        yield {
            "tmp": tmp,
            "workspace": workspace,
            "origin": origin,
            "s3": client,
            "slack": Slack.received,
            "slack_url": f"http://127.0.0.1:{slack.server_address[1]}{SLACK_PATH}",
        }
    finally:
        for name in (DIGITS, FETCH):
            images = subprocess.run(
                ["docker", "images", "-q", f"mlci/{name}"], capture_output=True, text=True, check=False
            ).stdout.split()
            if images:
                subprocess.run(["docker", "rmi", "-f", *sorted(set(images))], capture_output=True, check=False)
        slack.shutdown()
        s3.stop()


def runs_dir(world: dict) -> Path:
    """The host's run records directory (jenkins.runs_dir), shared by every build like on a host."""
    return world["tmp"] / "runs"


def build(world: dict, name: str, number: int, **extra) -> dict:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "name": name,
        "step": "Jenkinsfile",
        "build": number,
        "realSh": True,
        "softKillWaitS": SOFT_KILL_WAIT_S,  # as mlci renders the nodes
        "workdir": str(world["workspace"]),
        "archiveDir": str(world["tmp"] / f"archive-{number}"),
        # as mlci render configures a node: records in a host directory, outside the workspace
        "nodes": [
            {
                "name": "gpu-01",
                "labels": ["mlci", "docker", "gpu-01"],
                "env": {"MLCI_HOST": "gpu-01", "MLCI_RUNS_DIR": str(runs_dir(world))},
            }
        ],
        "shEnv": {
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "MLCI_CACHE_DIR": str(world["tmp"] / "cache"),
            "HOME": str(world["tmp"]),
        },
        "credentials": {
            "HF_TOKEN": HF_TOKEN,
            "REHEARSAL_S3_KEY": "rehearsal",
            "REHEARSAL_S3_SECRET": "rehearsal-secret",
            "SLACK_WEBHOOK_URL": world["slack_url"],
        },
        **extra,
    }


@pytest.fixture(scope="module")
def builds(world) -> dict:
    only = {"FORCE": True}
    scenarios = [
        build(world, "release", 12, input={DIGITS: {"decision": "approve", "user": "alice"}}),
        build(world, "again", 13, params={**only, "PROJECTS": FETCH}),
        build(world, "rejected", 14, params={**only, "PROJECTS": DIGITS}, input={DIGITS: "reject"}),
        build(
            world,
            "abort",
            15,
            params={**only, "PROJECTS": DIGITS, "HEAD_REF": "slow"},
            abortWhenFile=f"{runs_dir(world)}/{DIGITS}/*-mlci-release-15/attempt-1/out/started",
        ),
        build(
            world,
            "time-limit",
            16,
            params={**only, "PROJECTS": DIGITS, "HEAD_REF": "slow"},
            timeoutOverrides={
                "4530": 10
            },  # Jenkins' limit for digits (3600 s build + 600 s stage + 330 s slack), shortened
        ),
    ]
    started = time.monotonic()
    answer = harness.run(scenarios=scenarios, jenkinsfile=world["workspace"] / "Jenkinsfile", timeout=900)
    print(f"rehearsal took {time.monotonic() - started:.0f} s")
    return answer["scenarios"]


def keys(world: dict) -> set[str]:
    return {o["Key"] for o in world["s3"].list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def head(world: dict, ref: str) -> str:
    return git(world["origin"], "rev-parse", ref)


def slack_texts(world: dict) -> list[str]:
    return [p["text"] for p in world["slack"]]


def test_the_release_trains_gates_approves_publishes_and_notifies(world, builds):
    r = builds["release"]
    assert r["result"] == "SUCCESS", (r["error"], r["log"][-30:])
    sha = head(world, "main")[:12]
    for name in (DIGITS, FETCH):
        job = f"{sha}-mlci-release-12"
        assert f"{name}/{job}/_mlci.json" in keys(world)
        assert json.loads(world["s3"].get_object(Bucket=BUCKET, Key=f"{name}/latest.json")["Body"].read())
    assert f"{DIGITS}/{sha}-mlci-release-12/model.bin" in keys(world)
    assert f"{FETCH}/{sha}-mlci-release-12/vocab.txt" in keys(world)  # downloaded from the Hub double
    texts = slack_texts(world)
    for name in (DIGITS, FETCH):
        assert f"🚀 {name} run {sha}-mlci-release-12 started" in texts
        assert f"✅ {name} run {sha}-mlci-release-12 succeeded" in texts
    assert f"✋ {DIGITS} run {sha}-mlci-release-12 is waiting for approval" in texts
    approval = next(p for p in world["slack"] if "waiting for approval" in p["text"])
    buttons = [e["url"] for b in approval["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "http://jenkins.test/job/mlci-release/12/input/" in buttons


def test_the_project_secret_is_bound_for_its_run_and_masked(builds):
    r = builds["release"]
    assert any("downloaded 4 words; token ****" in line for line in r["log"]), r["log"][-30:]
    assert not any(HF_TOKEN in line for line in r["log"])


def test_only_the_record_logs_and_junit_are_archived(world, builds):
    job = f"{head(world, 'main')[:12]}-mlci-release-12"
    archived = world["tmp"] / "archive-12" / ".mlci" / "archive" / DIGITS
    assert [p.name for p in archived.iterdir()] == [job]
    kept = {p.relative_to(archived / job).as_posix() for p in (archived / job).rglob("*") if p.is_file()}
    assert {"status.json", "junit.xml", "build.log", "attempt-1/train.log"} <= kept, kept
    assert not [k for k in kept if "/out/" in k]  # model outputs stay out of JENKINS_HOME
    # ... and stay on the host, in the record mlci wrote there, from which they were published
    assert (runs_dir(world) / DIGITS / job / "attempt-1" / "out" / "model.bin").read_bytes() == b"weights"
    # ... in no workspace: the parallel branches had one each (workspace, workspace@2), as in Jenkins
    workspaces = sorted(world["tmp"].glob("workspace*"))
    assert [w.name for w in workspaces] == ["workspace", "workspace@2"]
    assert not [w for w in workspaces if (w / ".mlci" / "runs").exists()]


def test_mlci_status_on_the_host_sees_jenkins_runs(world, builds):
    env = {**os.environ, "MLCI_RUNS_DIR": str(runs_dir(world)), "MLCI_ROOT": str(world["workspace"])}
    shown = subprocess.run(
        [sys.executable, "-m", "mlci", "status", "--json", "--limit", "50"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {(row["project"], row["jobId"]): row for row in json.loads(shown.stdout)}
    job = f"{head(world, 'main')[:12]}-mlci-release-12"
    for name in (DIGITS, FETCH):
        assert rows[(name, job)]["status"] == "Succeeded"
        assert rows[(name, job)]["artifactUrl"], rows[(name, job)]  # published after the approval
    assert rows[(DIGITS, f"{head(world, 'slow')[:12]}-mlci-release-15")]["status"] == "Cancelled"


def test_a_second_release_build_publishes_under_its_own_id(world, builds):
    r = builds["again"]
    assert r["result"] == "SUCCESS", (r["error"], r["log"][-30:])
    sha = head(world, "main")[:12]
    assert {f"{FETCH}/{sha}-mlci-release-12/_mlci.json", f"{FETCH}/{sha}-mlci-release-13/_mlci.json"} <= keys(world)
    latest = json.loads(world["s3"].get_object(Bucket=BUCKET, Key=f"{FETCH}/latest.json")["Body"].read())
    assert latest["jobId"] == f"{sha}-mlci-release-13"


def test_a_rejected_approval_publishes_nothing(world, builds):
    r = builds["rejected"]
    assert r["result"] == "UNSTABLE"
    assert not any("-mlci-release-14" in k for k in keys(world))


def test_an_abort_mid_stage_cancels_the_run_and_the_build(world, builds):
    r = builds["abort"]
    assert r["result"] == "ABORTED", (r["error"], r["log"][-30:])
    job = f"{head(world, 'slow')[:12]}-mlci-release-15"
    status = json.loads((runs_dir(world) / DIGITS / job / "status.json").read_text())
    assert status["overallStatus"] == "Cancelled"
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=mlci.job={job}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert left == []
    assert f"⏹️ {DIGITS} run {job} was cancelled" in slack_texts(world)
    assert not any(job in k for k in keys(world))


def test_the_time_limit_ends_the_build_failed_with_the_reason(world, builds):
    r = builds["time-limit"]
    assert r["result"] == "FAILURE", (r["error"], r["log"][-30:])
    assert f"{DIGITS}: stopped at its time limit of 4530 s" in r["error"]
    job = f"{head(world, 'slow')[:12]}-mlci-release-16"
    archived = world["tmp"] / "archive-16" / ".mlci/archive" / DIGITS / job / "status.json"
    assert json.loads(archived.read_text())["overallStatus"] in ("Cancelled", "Build Failed", "Failed")
    assert f"❌ {DIGITS} run {job} failed" in slack_texts(world)
