"""Asking a serving container what a client would get: over the environment's Docker network, from
another container, so a test checks the service itself and not mlci's report of it."""

from __future__ import annotations

import json

_ASK = (
    "import json, sys, urllib.request as u;"
    "data = sys.argv[2].encode() if len(sys.argv) > 2 else None;"
    "r = u.urlopen(u.Request(sys.argv[1], data=data, headers={'Content-Type': 'application/json'}), timeout=10);"
    "print(r.read().decode())"
)


def ask_service(client, image: str, network: str, url: str, payload: dict | None = None) -> dict:
    """GET `url` (POST `payload` as JSON) from a throwaway container of `image` on `network`; the JSON answer."""
    args = ["python", "-c", _ASK, url]
    if payload is not None:
        args.append(json.dumps(payload))
    out = client.containers.run(image, args, network=network, remove=True)
    return json.loads(out.decode().strip().splitlines()[-1])
