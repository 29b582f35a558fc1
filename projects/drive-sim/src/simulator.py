"""The simulator service: scores one drive of the policy through one scenario over HTTP.

It runs beside the simulate stage on the stage's own network, reachable as http://simulator:8080
(mlci starts it before the stage, waits until src/health.py says it is up, removes it after)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import config, scenarios

settings = config()
SCENARIOS = {s["id"]: s for s in scenarios(settings["scenarios"]["count"], settings["scenarios"]["seed"])}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self._send(200, {"status": "ok", "scenarios": len(SCENARIOS)} if self.path == "/health" else {"error": "?"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/drive":
            self._send(404, {"error": "unknown path"})
            return
        body = json.loads(self.rfile.read(min(int(self.headers.get("Content-Length", 0)), 1 << 20)))
        scenario, policy = SCENARIOS[body["scenario"]], body["policy"]
        careful = scenario["id"] in policy["careful"]
        crashed = scenario["difficulty"] > policy["skill"] and not careful
        self._send(200, {"scenario": scenario["id"], "crashed": crashed, "careful": careful})

    def _send(self, code: int, data: dict) -> None:
        payload = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, fmt: str, *args: object) -> None:
        print("simulator:", fmt % args, flush=True)


print(f"simulator: {len(SCENARIOS)} scenarios on :8080", flush=True)
ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
