"""The JSON Schema of status.json, generated from the typed model and shipped in the wheel
(mlci/record/status.schema.json) so readers without mlci — the dashboard, a Jenkins step, a
team's own scripts — validate records against exactly what this mlci writes.
tests/record/test_schema.py fails when the shipped file drifts from the model."""

from __future__ import annotations

import json
from pathlib import Path

from mlci.record.model import record_json_schema

SHIPPED = Path(__file__).with_name("status.schema.json")
SCHEMAS = {"record": record_json_schema}


def schema_text(name: str) -> str:
    return json.dumps(SCHEMAS[name](), indent=2, sort_keys=True) + "\n"


def write_shipped() -> None:
    """Regenerate the shipped file: `python -m mlci.record.schema`."""
    SHIPPED.write_text(schema_text("record"), encoding="utf-8")


if __name__ == "__main__":
    write_shipped()
