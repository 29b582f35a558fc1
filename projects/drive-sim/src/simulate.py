"""Simulate: drive the trained policy through every scenario on the simulator service."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from common import OUT, config, read_json, scenarios, write_json

settings = config()
policy = read_json(OUT / "policy.json")
drives = []
for scenario in scenarios(settings["scenarios"]["count"], settings["scenarios"]["seed"]):
    request = urllib.request.Request(
        "http://simulator:8080/drive",
        data=json.dumps({"scenario": scenario["id"], "policy": policy}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        drives.append({**scenario, **json.loads(response.read())})
write_json("drives.json", drives)
print(f"drive-sim: {len(drives)} drives simulated, {sum(d['crashed'] for d in drives)} crashed")
Path(OUT / "simulated").touch()
