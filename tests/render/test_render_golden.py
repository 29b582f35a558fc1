"""Golden scenarios, found automatically under tests/render/scenarios/<name>/:

- `mlci.yaml` (+ `projects/`) → `expected/<every rendered file>`, compared byte for byte;
- `err-*/mlci.yaml` → `expected_error.txt`, the exact message `mlci render` prints.

Set MLCI_UPDATE_GOLDEN=1 to rewrite the expectations after an intended change, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from render_support import ERROR_FILE, scenario_dirs

from mlci.errors import ConfigError
from mlci.render import plan
from mlci.render.library import render_library, render_playbook


def shipped_paths(scenario: Path) -> set[str]:
    return {*render_library(scenario, "jenkins/library"), *render_playbook(scenario)}


UPDATE = os.environ.get("MLCI_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("scenario", scenario_dirs("ok"), ids=lambda p: p.name)
def test_scenario_renders_exactly_the_expected_files(scenario: Path) -> None:
    expected_dir = scenario / "expected"
    # The shipped library and playbook are copies of mlci's own (tests/adoption/test_render_defects.py),
    # not goldens: a change to a role or a library step must not rewrite every scenario.
    files = [f for f in plan(scenario) if f.path not in shipped_paths(scenario)]
    if UPDATE:
        for f in files:
            (expected_dir / f.path).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / f.path).write_text(f.content, encoding="utf-8")
    expected = {str(p.relative_to(expected_dir)) for p in expected_dir.rglob("*") if p.is_file()}
    assert {f.path for f in files} == expected
    for f in files:
        assert f.content == (expected_dir / f.path).read_text(encoding="utf-8"), f.path


@pytest.mark.parametrize("scenario", scenario_dirs("ok"), ids=lambda p: p.name)
def test_rendering_is_deterministic(scenario: Path) -> None:
    assert plan(scenario) == plan(scenario)


@pytest.mark.parametrize("scenario", scenario_dirs("error"), ids=lambda p: p.name)
def test_error_scenario_reports_located_problems(scenario: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        plan(scenario)
    message = str(caught.value) + "\n"
    if UPDATE:
        (scenario / ERROR_FILE).write_text(message, encoding="utf-8")
    assert message == (scenario / ERROR_FILE).read_text(encoding="utf-8")
    for line in message.splitlines():  # file:line:col: key.path: what — how
        assert line.startswith("mlci.yaml:") and " — " in line, line
