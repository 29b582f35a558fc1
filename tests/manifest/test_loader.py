"""The manifest loader: positions, defaults, discovery, and the repository's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.errors import ConfigError, UsageError
from mlci.manifest import load_all, load_manifest, load_project
from mlci.manifest.schema import DEFAULT_BASE_IMAGE
from mlci.manifest.yamlsource import format_path, parse_yaml

REPO = Path(__file__).resolve().parents[2]


def test_positions_are_recorded_for_keys_and_values():
    source = parse_yaml("a:\n  b: [1, {c: 2}]\n", "x.yaml")
    assert source.key_pos[("a", "b")] == (2, 3)
    assert source.value_pos[("a", "b", 1, "c")] == (2, 14)
    assert format_path(("hosts", 0, "gpus")) == "hosts[0].gpus"


def test_duplicate_keys_are_problems_not_silently_overwritten():
    with pytest.raises(ConfigError) as info:
        parse_yaml("a: 1\nb: 2\na: 3\n", "x.yaml")
    assert str(info.value) == "x.yaml:3:1: a: duplicate key — keep only one of them"


def test_missing_manifest_means_embedded_defaults(tmp_path):
    manifest = load_manifest(tmp_path)
    assert manifest.build.base_image == DEFAULT_BASE_IMAGE
    assert manifest.artifacts.default == "local"
    assert manifest.artifacts.stores["local"].path == ".mlci/artifacts"


def test_unknown_project_suggests_the_close_name(tmp_path):
    (tmp_path / "projects" / "digits").mkdir(parents=True)
    (tmp_path / "projects" / "digits" / "project.yaml").write_text("gpus: none\n")
    with pytest.raises(UsageError) as info:
        load_project(tmp_path, "digit")
    assert "did you mean 'digits'?" in str(info.value)
    with pytest.raises(UsageError, match="not a valid project name"):
        load_project(tmp_path, "../etc")


def test_project_defaults(tmp_path):
    (tmp_path / "projects" / "p").mkdir(parents=True)
    (tmp_path / "projects" / "p" / "project.yaml").write_text("")
    spec = load_project(tmp_path, "p")
    assert spec.config.gpus == "auto"
    assert [(s.name, s.run) for s in spec.config.stages] == [("train", "./run.sh")]
    assert spec.config.retrain.max_attempts == 1
    assert spec.config.timeout == 7200


def test_the_repository_itself_is_valid():
    manifest, projects = load_all(REPO)
    assert manifest.name == "mlci"
    digits = next(p for p in projects if p.name == "digits")
    assert digits.config.gpus == "auto"
    assert [s.name for s in digits.config.stages] == ["train", "evaluate"]
    assert digits.config.gate.metric == "accuracy"
    assert all(name.isupper() for name in manifest.secret_names())
