"""A Jenkins on 127.0.0.1 answering the JSON API subset python-jenkins uses: crumb issuer, whoami,
version header, plugins, job info, build/buildWithParameters (201 + Location: queue item),
queue item → executable, build info → result, and the progressive console.

Jobs are scripted: how many queue polls before the build starts, the build number it gets (not
lastBuild + 1, so a client that guesses is caught), console chunks and the final result.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Job:
    name: str
    queue_polls: int = 1  # polls answered "why: waiting" before the item has an executable
    number: int = 17
    last_build: int = 41  # what a guessing client would use
    console: list[str] = field(default_factory=lambda: ["Started\n", "training...\n", "Finished: SUCCESS\n"])
    result: str = "SUCCESS"
    building_polls: int = 1  # build-info polls answered "building" (unless the console was read to the end)
    never_starts: bool = False
    cancelled: bool = False


@dataclass
class State:
    user: str
    token: str
    jobs: dict[str, Job] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=lambda: ["workflow-aggregator", "configuration-as-code", "git"])
    triggered: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    queue: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)  # each request's raw query string, as sent


class FakeJenkins:
    CRUMB = "crumb-1234"

    def __init__(self, user: str = "admin", token: str = "jenkins-api-token-value") -> None:
        self.state = State(user, token)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        handler.base = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def add(self, job: Job) -> Job:
        self.state.jobs[job.name] = job
        return job

    def __enter__(self) -> FakeJenkins:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    state: State
    base: str

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        for key, value in {"X-Jenkins": "2.462.3", "Content-Length": str(len(data)), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        expected = base64.b64encode(f"{self.state.user}:{self.state.token}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True, strict_parsing=False).items()}
        self.state.queries.append(url.query)
        self.state.requests.append((method, path, dict(self.headers)))
        if not self._authorized():
            return self._send(401, b"Unauthorized", {"WWW-Authenticate": 'Basic realm="Jenkins"'})
        if method == "POST" and self.headers.get("Jenkins-Crumb") != FakeJenkins.CRUMB:
            return self._send(403, b"No valid crumb was included in the request")
        if path == "/crumbIssuer/api/json":
            return self._send(200, {"crumbRequestField": "Jenkins-Crumb", "crumb": FakeJenkins.CRUMB})
        if path == "/":
            return self._send(200, b"<html/>")
        if path == "/me/api/json":
            return self._send(200, {"id": self.state.user, "fullName": self.state.user})
        if path == "/pluginManager/api/json":
            plugins = [{"shortName": p, "longName": p, "version": "1.0", "active": True} for p in self.state.plugins]
            return self._send(200, {"plugins": plugins})
        if m := re.fullmatch(r"/queue/item/(\d+)/api/json", path):
            return self._queue_item(int(m[1]))
        if m := re.fullmatch(
            r"/job/([^/]+)(?:/(\d+))?/(api/json|build|buildWithParameters|logText/progressiveText)", path
        ):
            job = self.state.jobs.get(m[1])
            if job is None:
                return self._send(404, b"Not Found")
            number, action = m[2], m[3]
            if action in ("build", "buildWithParameters") and method == "POST" and number is None:
                return self._trigger(job, query)
            if action == "api/json" and number is None:
                return self._send(200, {"name": job.name, "lastBuild": {"number": job.last_build}})
            if number is None or int(number) != job.number:
                return self._send(404, b"Not Found")
            if action == "api/json":
                return self._build_info(job)
            return self._console(job, int(query.get("start", 0)))
        self._send(404, b"Not Found")

    def _trigger(self, job: Job, params: dict[str, str]) -> None:
        queue_id = 300 + len(self.state.queue)
        self.state.triggered.append((job.name, params))
        self.state.queue[queue_id] = {"job": job, "polls": 0, "console_reads": 0}
        self._send(201, b"", {"Location": f"{self.base}queue/item/{queue_id}/"})

    def _queue_item(self, queue_id: int) -> None:
        item = self.state.queue.get(queue_id)
        if item is None:
            return self._send(404, b"Not Found")
        job: Job = item["job"]
        item["polls"] += 1
        body: dict[str, Any] = {"id": queue_id, "task": {"name": job.name}}
        if job.cancelled:
            body["cancelled"] = True
        elif job.never_starts or item["polls"] <= job.queue_polls:
            body["why"] = "Waiting for next available executor on gpu"
        else:
            body["executable"] = {"number": job.number, "url": f"{self.base}job/{job.name}/{job.number}/"}
        self._send(200, body)

    def _build_info(self, job: Job) -> None:
        job._info_polls = getattr(job, "_info_polls", 0) + 1  # type: ignore[attr-defined]
        consumed = getattr(job, "_offset", 0) >= len("".join(job.console))
        done = consumed or job._info_polls > job.building_polls  # type: ignore[attr-defined]
        self._send(200, {"number": job.number, "building": not done, "result": job.result if done else None})

    def _console(self, job: Job, start: int) -> None:
        text = "".join(job.console)
        # one chunk per request, as a running build's log grows
        ends = [sum(len(c) for c in job.console[: i + 1]) for i in range(len(job.console))]
        end = next((e for e in ends if e > start), len(text))
        job._offset = end  # type: ignore[attr-defined]
        more = end < len(text)
        self._send(
            200,
            text[start:end].encode(),
            {"X-Text-Size": str(end), "X-More-Data": "true" if more else "false", "Content-Type": "text/plain"},
        )

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")
