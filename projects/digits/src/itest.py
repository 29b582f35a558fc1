"""The integration test `mlci itest` runs against a deployed digits service ($MLCI_SERVE_URL):
the service must be healthy, serve the version mlci deployed, and classify held-out digits well."""

from __future__ import annotations

import json
import os
import sys
import urllib.request

from common import load_config, split

MIN_ACCURACY = 0.9
SAMPLES = 100


def call(url: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main() -> int:
    base = os.environ["MLCI_SERVE_URL"].rstrip("/")
    expected = os.environ.get("MLCI_MODEL_VERSION")
    health = call(f"{base}/health")
    if expected and health.get("version") != expected:
        print(f"itest: the service reports version {health.get('version')!r}, mlci deployed {expected!r}")
        return 1
    _, x_test, _, y_test = split(load_config())
    pixels = [[round(float(v) * 16.0, 4) for v in row] for row in x_test[:SAMPLES]]
    predictions = call(f"{base}/predict", {"instances": pixels})["predictions"]
    accuracy = sum(int(p == t) for p, t in zip(predictions, y_test[:SAMPLES], strict=True)) / len(predictions)
    print(f"itest: {len(predictions)} held-out digits, accuracy {accuracy:.3f} (needs {MIN_ACCURACY})")
    return 0 if accuracy >= MIN_ACCURACY else 1


if __name__ == "__main__":
    sys.exit(main())
