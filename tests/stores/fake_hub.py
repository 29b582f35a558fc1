"""A minimal Hugging Face Hub on 127.0.0.1: the HTTP API subset huggingface_hub uses to create a
repo, list refs, create a branch, preupload (LFS batch + PUT), commit (ndjson) and tag.

It records every request, so tests assert what the real client sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

LFS_THRESHOLD = 1024  # files this large or larger are "LFS" files, like the Hub's large/binary files


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def ndjson(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class HubState:
    requests: list[Request] = field(default_factory=list)
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)
    fail_next: dict[str, list[int]] = field(default_factory=dict)  # route name -> statuses to answer first

    def find(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]


class FakeHub:
    def __init__(self) -> None:
        self.state = HubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        handler.endpoint = self.endpoint
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_REPO = r"/api/(models|datasets)/([^/]+/[^/]+)"


class _Handler(BaseHTTPRequestHandler):
    state: HubState
    endpoint: str
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any = None) -> None:
        data = json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        body = self._body()
        path = urlsplit(self.path).path
        self.state.requests.append(Request(method, path, dict(self.headers), body))
        for name, pattern, handler in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if match and name.startswith(method + " "):
                failures = self.state.fail_next.get(name.split(" ", 1)[1])
                if failures:
                    return self._send(failures.pop(0), {"error": "scripted failure"})
                return handler(self, match, body)
        self._send(404, {"error": f"no route {method} {path}"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    # ------------------------------------------------------------ routes
    def _repo(self, repo_id: str) -> dict[str, Any]:
        return self.state.repos.setdefault(repo_id, {"private": None, "branches": {"main": "0" * 40}, "tags": {}})

    def create_repo(self, match: re.Match, body: bytes) -> None:
        data = json.loads(body)
        repo_id = f"{data.get('organization')}/{data['name']}"
        repo = self._repo(repo_id)
        repo["private"] = data.get("private", data.get("visibility") == "private")
        self._send(200, {"url": f"{self.endpoint}/{repo_id}", "name": repo_id})

    def refs(self, match: re.Match, body: bytes) -> None:
        repo = self._repo(match[2])

        def ref(kind: str, name: str, oid: str) -> dict[str, str]:
            return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}

        self._send(
            200,
            {
                "branches": [ref("heads", n, o) for n, o in repo["branches"].items()],
                "tags": [ref("tags", n, o) for n, o in repo["tags"].items()],
                "converts": [],
            },
        )

    def branch(self, match: re.Match, body: bytes) -> None:
        repo, name = self._repo(match[2]), unquote(match[3])
        if name in repo["branches"]:
            return self._send(409, {"error": "Reference already exists"})
        repo["branches"][name] = repo["branches"]["main"]
        self._send(200, {})

    def preupload(self, match: re.Match, body: bytes) -> None:
        files = json.loads(body)["files"]
        modes = [
            {"path": f["path"], "uploadMode": "lfs" if f["size"] >= LFS_THRESHOLD else "regular", "shouldIgnore": False}
            for f in files
        ]
        self._send(200, {"files": modes, "commitOid": "0" * 40})

    def lfs_batch(self, match: re.Match, body: bytes) -> None:
        objects = [
            {
                "oid": o["oid"],
                "size": o["size"],
                "authenticated": True,
                "actions": {"upload": {"href": f"{self.endpoint}/_lfs/{o['oid']}"}},
            }
            for o in json.loads(body)["objects"]
        ]
        self._send(200, {"transfer": "basic", "objects": objects})

    def lfs_put(self, match: re.Match, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != match[1]:
            return self._send(400, {"error": "oid mismatch"})
        self.state.lfs[match[1]] = body
        self._send(200, {})

    def commit(self, match: re.Match, body: bytes) -> None:
        repo, revision = self._repo(match[2]), unquote(match[3])
        if revision not in repo["branches"]:
            return self._send(404, {"error": f"Revision Not Found: {revision}"})
        oid = hashlib.sha1(body).hexdigest()
        header = next((i["value"] for i in Request("POST", "", {}, body).ndjson() if i["key"] == "header"), {})
        repo.setdefault("commits", {})[oid] = {
            "id": oid,
            "title": header.get("summary", ""),
            "message": header.get("description", ""),
            "authors": [{"user": "mlci-bot"}],
            "date": "2026-11-23T00:00:00.000Z",
        }
        repo["branches"][revision] = oid
        self._send(200, {"commitUrl": f"{self.endpoint}/{match[2]}/commit/{oid}", "commitOid": oid, "success": True})

    def commits(self, match: re.Match, body: bytes) -> None:
        repo, revision = self._repo(match[2]), unquote(match[3])
        oid = repo["branches"].get(revision) or repo["tags"].get(revision)
        if oid is None:
            return self._send(404, {"error": f"Revision Not Found: {revision}"})
        self._send(
            200,
            [
                repo.get("commits", {}).get(
                    oid, {"id": oid, "title": "", "message": "", "authors": [], "date": "2026-11-23T00:00:00.000Z"}
                )
            ],
        )

    def tag(self, match: re.Match, body: bytes) -> None:
        repo, revision = self._repo(match[2]), unquote(match[3])
        data = json.loads(body)
        if data["tag"] in repo["tags"]:
            return self._send(409, {"error": "Tag already exists"})
        repo["tags"][data["tag"]] = repo["branches"].get(revision, revision)
        self._send(200, {})

    def validate_yaml(self, match: re.Match, body: bytes) -> None:
        content = json.loads(body)["content"]
        ok = content.startswith("---\n") and "\n---\n" in content[4:]
        self._send(200 if ok else 400, {"warnings": [], "errors": [] if ok else [{"message": "no front matter"}]})

    ROUTES: ClassVar[list[tuple[str, str, Any]]] = [
        ("POST validate-yaml", r"/api/validate-yaml", validate_yaml),
        ("POST create", r"/api/repos/create", create_repo),
        ("GET refs", _REPO + r"/refs", refs),
        ("POST branch", _REPO + r"/branch/([^/]+)", branch),
        ("POST preupload", _REPO + r"/preupload/([^/]+)", preupload),
        ("POST lfs", r"/(?:datasets/)?[^/]+/[^/]+\.git/info/lfs/objects/batch", lfs_batch),
        ("PUT lfs", r"/_lfs/([0-9a-f]{64})", lfs_put),
        ("POST commit", _REPO + r"/commit/([^/]+)", commit),
        ("POST tag", _REPO + r"/tag/([^/]+)", tag),
        ("GET commits", _REPO + r"/commits/([^/]+)", commits),
    ]


def decoded_files(commit: Request) -> dict[str, bytes]:
    """Regular files of an ndjson commit, decoded."""
    return {
        item["value"]["path"]: base64.b64decode(item["value"]["content"])
        for item in commit.ndjson()
        if item["key"] == "file"
    }
