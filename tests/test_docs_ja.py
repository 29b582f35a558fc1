"""docs/ja/ stays in step with the English README: the same `mlci` commands, every manifest and
project.yaml key, and example files that are valid as written."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from mlci.cli import _command_modules
from mlci.manifest.project import Project
from mlci.manifest.schema import Manifest

REPO = Path(__file__).resolve().parents[1]
JA = (REPO / "docs" / "ja" / "README.md").read_text(encoding="utf-8")
EN = (REPO / "README.md").read_text(encoding="utf-8")
COMMAND = re.compile(r"\bmlci ([a-z][a-z-]*)")


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_the_same_commands_are_named_in_both():
    commands = set(_command_modules())
    in_english = set(COMMAND.findall(EN)) & commands
    in_japanese = set(COMMAND.findall(JA))
    assert in_japanese - commands == set(), "docs/ja names commands mlci does not have"
    assert in_english == commands, "the README misses a command"
    assert in_japanese == in_english


def test_every_manifest_and_project_key_is_named_and_the_examples_are_valid():
    for field in (*Manifest.model_fields, *Project.model_fields):
        assert re.search(rf"\b{field}\b", JA), field
    blocks = yaml_blocks(JA)
    manifest = next(yaml.safe_load(b) for b in blocks if b.startswith("version: 1"))
    Manifest.model_validate(manifest)
    project = next(yaml.safe_load(b) for b in blocks if b.startswith("gpus:"))
    Project.model_validate(project)
    assert set(manifest) == set(Manifest.model_fields)  # the example shows every section
    assert set(project) == set(Project.model_fields)


def test_the_readme_links_the_japanese_docs():
    assert "](docs/ja/README.md)" in EN
