"""One Groovy JVM per test module: each module lists its SCENARIOS, run together on first use."""

from __future__ import annotations

import pytest

from . import harness


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest) -> dict:
    scenarios = getattr(request.module, "SCENARIOS", [])
    names = [s["name"] for s in scenarios]
    assert len(names) == len(set(names)), "scenario names must be unique"
    return harness.run(scenarios=scenarios)["scenarios"]
