"""What the stages share: the config, the scenarios, and the paths of the container contract."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

OUT = Path(os.environ.get("MLCI_OUTPUT_DIR", "out"))
PREVIOUS = Path(os.environ["MLCI_PREVIOUS_DIR"]) if os.environ.get("MLCI_PREVIOUS_DIR") else None


def config() -> dict:
    """config.yaml is two flat sections of numbers: read it without a YAML library."""
    data: dict = {}
    section = None
    for line in Path(os.environ.get("MLCI_CONFIG", "config.yaml")).read_text().splitlines():
        text = line.split("#", 1)[0].rstrip()
        if not text.strip():
            continue
        if not text.startswith(" "):
            section = data.setdefault(text.rstrip(":"), {})
        else:
            key, value = (part.strip() for part in text.split(":", 1))
            section[key] = float(value) if "." in value else int(value)
    return data


def scenarios(count: int, seed: int) -> list[dict]:
    """Curves, merges and cut-ins of rising difficulty (0..1), the same for every stage and the simulator."""
    rng = random.Random(seed)
    kinds = ["curve", "merge", "cut-in", "pedestrian"]
    return [
        {"id": f"s{n:02d}", "kind": kinds[n % len(kinds)], "difficulty": round(rng.random(), 3)}
        for n in range(count)
    ]


def write_json(name: str, data: object) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> object:
    return json.loads(path.read_text())
