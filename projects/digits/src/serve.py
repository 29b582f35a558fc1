"""Serve the trained model over HTTP (mlci deploy, mlci bundle): the standard library only.

GET  /health   200 {"status": "ok", "version": ...} once the model is loaded
POST /predict  {"instances": [[64 pixel values 0..16], ...]} → {"predictions": [digit, ...], "version": ...}

mlci mounts the version's outputs read-only at $MLCI_MODEL_DIR and passes $MLCI_SERVE_PORT and
$MLCI_MODEL_VERSION. Requests are bounded: a body over 1 MiB, more than 1000 instances or an
instance that is not 64 numbers is a 400, never a crash.
"""

from __future__ import annotations

import json
import math
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import joblib

MAX_BODY = 1024 * 1024
MAX_INSTANCES = 1000
PIXELS = 64
VERSION = os.environ.get("MLCI_MODEL_VERSION", "unknown")
# Loaded before the server listens: a model that does not load never reports healthy.
MODEL = joblib.load(Path(os.environ.get("MLCI_MODEL_DIR", "out")) / "model.joblib")


def parse_instances(body: bytes) -> list[list[float]]:
    data = json.loads(body)
    instances = data.get("instances") if isinstance(data, dict) else None
    if not isinstance(instances, list) or not 0 < len(instances) <= MAX_INSTANCES:
        raise ValueError(f"'instances' must be a list of 1 to {MAX_INSTANCES} images")
    for row in instances:
        ok = isinstance(row, list) and len(row) == PIXELS
        if not ok or not all(isinstance(v, int | float) and math.isfinite(v) and 0 <= v <= 16 for v in row):
            raise ValueError(f"each instance must be {PIXELS} numbers from 0 to 16 (an 8x8 digit)")
    # the model was trained on pixels scaled to 0..1 (src/common.py)
    return [[v / 16.0 for v in row] for row in instances]


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"status": "ok", "version": VERSION})
        else:
            self._reply(404, {"error": "not found: GET /health, POST /predict"})

    def do_POST(self) -> None:
        if self.path != "/predict":
            self._reply(404, {"error": "not found: POST /predict"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._reply(400, {"error": f"body must be 1 byte to {MAX_BODY} bytes of JSON"})
            return
        try:
            instances = parse_instances(self.rfile.read(length))
        except ValueError as exc:
            self._reply(400, {"error": str(exc)})
            return
        predictions = [int(p) for p in MODEL.predict(instances)]
        self._reply(200, {"predictions": predictions, "version": VERSION})


def main() -> None:
    port = int(os.environ.get("MLCI_SERVE_PORT", "8080"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"digits {VERSION}: serving on port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
