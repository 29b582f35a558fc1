"""The published JSON Schema of status.json: shipped, printed, generated from the model, and
strict enough that a record a reader could not trust does not validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from mlci.cli import main
from mlci.record.model import RunStatus
from mlci.record.schema import SHIPPED, schema_text
from mlci.record.store import RunRecord
from tests.record_support import finished_run

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = json.loads(SHIPPED.read_text())


def test_the_shipped_schema_is_the_one_the_model_generates():
    # regenerate with `python -m mlci.record.schema` when the model changes
    assert SHIPPED.read_text() == schema_text("record")


def test_mlci_schema_record_prints_it(capsys):
    assert main(["schema", "record"]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA


def test_a_finished_record_validates_and_an_unknown_status_does_not(tmp_path):
    record = finished_run(tmp_path, values=(0.5, 0.95))
    data = json.loads((record.dir / "status.json").read_text())
    jsonschema.validate(data, SCHEMA)
    for path, bad in [
        (("overallStatus",), "Exploded"),
        (("attempts", 0, "stages", 0, "status"), "Sort of"),
        (("build", "status"), "Maybe"),
        (("attempts", 0, "status"), None),
        (("metrics", "accuracy"), "high"),
        (("unknownKey",), 1),
    ]:
        broken = json.loads(json.dumps(data))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_a_record_written_by_the_previous_mlci_still_loads(tmp_path):
    """v1-succeeded.status.json was written by mlci 0.1.0 before the typed model (schemaVersion 1)."""
    original = json.loads((FIXTURES / "v1-succeeded.status.json").read_text())
    directory = tmp_path / original["project"] / original["jobId"]
    directory.mkdir(parents=True)
    shutil.copy(FIXTURES / "v1-succeeded.status.json", directory / "status.json")
    record = RunRecord.load(directory)
    assert record.status == RunStatus.SUCCEEDED
    assert record.state.gate is not None and record.state.gate.passed
    assert record.state.attempts[0].stages[-1].name == "evaluate"
    assert record.state.metrics == original["metrics"]
    # saved again, it is today's shape and validates
    record.save()
    upgraded = json.loads((directory / "status.json").read_text())
    jsonschema.validate(upgraded, SCHEMA)
    assert upgraded["schemaVersion"] == 3 and upgraded["metrics"] == original["metrics"]


def test_a_publication_written_before_versions_still_loads_and_can_be_versioned(tmp_path):
    """v2-published.status.json was written by mlci before model versions (schemaVersion 2)."""
    original = json.loads((FIXTURES / "v2-published.status.json").read_text())
    assert original["schemaVersion"] == 2 and "version" not in original["publish"]
    directory = tmp_path / original["project"] / original["jobId"]
    directory.mkdir(parents=True)
    shutil.copy(FIXTURES / "v2-published.status.json", directory / "status.json")
    record = RunRecord.load(directory)
    assert record.state.publish is not None and record.state.publish.version is None
    assert record.state.publish.url == original["publish"]["url"]
    record.state.versioned("v7")
    record.save()
    upgraded = json.loads((directory / "status.json").read_text())
    jsonschema.validate(upgraded, SCHEMA)
    assert upgraded["schemaVersion"] == 3 and upgraded["publish"]["version"] == "v7"
    for bad in ("7", "v0", "v07", "v1x", "V1", ""):
        broken = json.loads(json.dumps(upgraded))
        broken["publish"]["version"] = bad
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)
