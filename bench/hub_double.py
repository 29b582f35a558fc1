"""A local double of the Hugging Face Hub's download endpoint, standard library only, so it can run
inside a stage's container on 127.0.0.1 next to the code under test.

It serves one LFS file at the real resolve URL (`/{repo}/resolve/{revision}/{filename}`) with the
headers huggingface_hub reads (X-Repo-Commit, X-Linked-Etag, X-Linked-Size), honours `Range`, and
counts the body bytes it sends into a JSON file. Strict like the Hub: an unknown repository is 401
RepositoryNotFound, an unknown revision 404 RevisionNotFound, an unknown file 404 EntryNotFound,
any other path 404, any other method 405.

    python hub_double.py --port 8765 --size 200000000 --count-file /tmp/served.json [--etag-file F] [--rate B/s]
    python hub_double.py --size 200000000 --compute-etag     # print the content's sha256 and exit
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = "mlci-bench/base-model"
FILENAME = "model.bin"
COMMIT = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # a fixed commit id
BLOCK = 1 << 20
_RESOLVE = re.compile(r"/(?:models/)?([\w.-]+/[\w.-]+)/resolve/([\w.%-]+)/(.+)")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def block() -> bytes:
    """1 MiB of deterministic, incompressible bytes; the file is this block repeated."""
    out, seed = bytearray(), b"mlci-hub-double"
    while len(out) < BLOCK:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:BLOCK])


def content_sha256(size: int) -> str:
    digest, data, left = hashlib.sha256(), block(), size
    while left:
        digest.update(data[: min(left, BLOCK)])
        left -= min(left, BLOCK)
    return digest.hexdigest()


class Counter:
    def __init__(self, path: str):
        self.path, self.lock, self.bytes, self.gets = path, threading.Lock(), 0, 0
        self.save()

    def add(self, n: int, gets: int = 0) -> None:
        with self.lock:
            self.bytes += n
            self.gets += gets
            self.save()

    def save(self) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as handle:
            json.dump({"bytes": self.bytes, "gets": self.gets}, handle)
        os.replace(tmp, self.path)


def handler(size: int, etag: str, counter: Counter, rate: float = 0) -> type[BaseHTTPRequestHandler]:
    data = block()

    class Hub(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _error(self, status: int, code: str) -> None:
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _resolve(self) -> tuple[int, int] | None:
            match = _RESOLVE.fullmatch(self.path.split("?", 1)[0])
            if not match:
                self._error(404, "NotFound")
                return None
            repo, revision, filename = match.groups()
            if repo != REPO:
                self._error(401, "RepositoryNotFound")
                return None
            if revision not in ("main", COMMIT):
                self._error(404, "RevisionNotFound")
                return None
            if filename != FILENAME:
                self._error(404, "EntryNotFound")
                return None
            start, end = 0, size - 1
            if rng := self.headers.get("Range"):
                parsed = _RANGE.fullmatch(rng.strip())
                if not parsed or int(parsed[1]) >= size:
                    self._error(416, "RangeNotSatisfiable")
                    return None
                start, end = int(parsed[1]), min(int(parsed[2] or size - 1), size - 1)
            self.send_response(206 if rng else 200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(size))
            self.send_header("ETag", f'"{etag}"')
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start + 1))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            return start, end

        def do_HEAD(self) -> None:
            self._resolve()

        def do_GET(self) -> None:
            span = self._resolve()
            if span is None:
                return
            position, end = span
            counter.add(0, gets=1)
            sent, started = 0, time.monotonic()
            piece = BLOCK if not rate else max(int(rate / 50), 4096)  # rate-limited: ~50 writes a second
            while position <= end:
                offset = position % BLOCK
                chunk = data[offset : offset + min(BLOCK - offset, end - position + 1, piece)]
                counter.add(len(chunk))  # counted before it is sent: a client holding every byte sees the count
                self.wfile.write(chunk)
                sent += len(chunk)
                position += len(chunk)
                if rate and (ahead := sent / rate - (time.monotonic() - started)) > 0:
                    time.sleep(ahead)

        def _refuse(self) -> None:
            self._error(405, "MethodNotAllowed")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    return Hub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--count-file", default="/tmp/served.json")
    parser.add_argument("--etag-file")
    parser.add_argument("--rate", type=float, default=0, help="bytes per second per download (0: as fast as possible)")
    parser.add_argument("--compute-etag", action="store_true")
    args = parser.parse_args()
    if args.compute_etag:
        print(content_sha256(args.size))
        return
    etag = Path(args.etag_file).read_text().strip() if args.etag_file else content_sha256(args.size)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), handler(args.size, etag, Counter(args.count_file), args.rate)
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
