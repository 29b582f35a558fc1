"""`--set key=value` against config.yaml: typed, validated, located, and never modifying the file."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from mlci.errors import ConfigError, UsageError
from mlci.run.overrides import Override, effective_config, parse_set, read_set_file

CONFIG = """\
# comment kept in the project's file
data:
  seed: 42
  splits: [0.8, 0.2]
model:
  kind: svc
  C: 5.0
  depth: 3
  dropout: null
  deep: {a: {b: 1}}
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "config.yaml").write_text(CONFIG)
    return tmp_path


def test_values_are_yaml_scalars_and_the_last_of_a_key_wins():
    assert parse_set(["model.C=0.5", "model.kind=logistic", "flag=true", "model.C=1e-3", "name='a b'"]) == [
        Override("model.kind", "logistic"),
        Override("flag", True),
        Override("model.C", 0.001),
        Override("name", "a b"),
    ]


@pytest.mark.parametrize(
    "item, message",
    [
        ("model.C", "is not key=value"),
        ("=1", "is not key=value"),
        ("a..b=1", "is not key=value"),
        ("a\nb=1", "is not key=value"),
        ("a=1\n", "without control characters"),
        ("a=[1, 2]", "must be a single value"),
        ("a={b: 1}", "must be a single value"),
        ("a=: x: y", "is not a YAML value"),
        ("$(touch /tmp/pwned)=1", "is not key=value"),
    ],
)
def test_malformed_items_are_usage_errors(item, message):
    with pytest.raises(UsageError, match=message):
        parse_set([item])


def test_hostile_values_stay_data(project):
    hostile = "$(touch /tmp/pwned); id && echo x > /etc/passwd"
    config = effective_config(project, "p", parse_set([f"model.kind={hostile}"]))
    assert config is not None and yaml.safe_load(config.content)["model"]["kind"] == hostile


def test_overrides_merge_into_a_copy_and_keep_types(project):
    config = effective_config(
        project,
        "p",
        parse_set(["model.C=1", "model.depth=4", "data.splits.0=0.7", "model.dropout=0.1", "model.deep.a.b=2"]),
    )
    assert config is not None
    data = yaml.safe_load(config.content)
    assert data["model"] == {"kind": "svc", "C": 1, "depth": 4, "dropout": 0.1, "deep": {"a": {"b": 2}}}
    assert data["data"]["splits"] == [0.7, 0.2]
    assert config.sha256 == "sha256:" + hashlib.sha256(config.content).hexdigest()
    assert (project / "config.yaml").read_text() == CONFIG  # the project's file is never modified


def test_without_overrides_the_stages_see_the_file_byte_for_byte(project):
    config = effective_config(project, "p", [])
    assert config is not None and config.content == CONFIG.encode()


def test_every_bad_key_or_type_is_reported_at_once_with_its_location(project):
    with pytest.raises(ConfigError) as err:
        effective_config(project, "p", parse_set(["model.c=1", "model.kind=3", "data=1", "data.seed=x", "nope=1"]))
    lines = str(err.value).splitlines()
    assert (
        "projects/p/config.yaml:6:3: model: --set model.c: 'c' is not a key of config.yaml — did you mean 'model.C'?"
        in lines
    )
    assert any(
        line.startswith("projects/p/config.yaml:6:9: model.kind: --set gives 3, which is a number") for line in lines
    )
    assert any(line.startswith("projects/p/config.yaml:3:3: data: it is a mapping, not a value") for line in lines)
    assert any("data.seed: --set gives 'x', which is text, but config.yaml has a number (42)" in line for line in lines)
    assert any("'nope' is not a key of config.yaml — keys here: data, model" in line for line in lines)
    assert err.value.exit_code == 2


def test_set_without_a_config_or_through_a_link_is_refused(tmp_path):
    with pytest.raises(UsageError, match=r"--set needs projects/p/config\.yaml, which does not exist"):
        effective_config(tmp_path, "p", parse_set(["a=1"]))
    assert effective_config(tmp_path, "p", []) is None
    (tmp_path / "config.yaml").symlink_to("/etc/passwd")
    with pytest.raises(UsageError, match="symbolic link"):
        effective_config(tmp_path, "p", [])


# ---------------------------------------------------------------- --set-file (what the Jenkins job writes)

HOSTILE = [
    "model.kind=$(touch /tmp/pwned)",
    "data.seed=1",
    "model.C=0.5",
    "a.b=x`id`;rm -rf /",
    'a.c="\'; rm -rf / #"',
    'a.d=it\'s "quoted" | & > <',
]


def test_a_set_file_gives_the_items_of_its_lines_intact(tmp_path):
    path = tmp_path / "overrides"
    # as a browser posts a Jenkins text parameter: CRLF, blank lines, a comment
    path.write_bytes(("# sweep\r\n" + "\r\n".join(HOSTILE) + "\r\n\r\n").encode())
    items = read_set_file(path)
    assert items == HOSTILE
    assert parse_set(items) == [
        Override("model.kind", "$(touch /tmp/pwned)"),
        Override("data.seed", 1),
        Override("model.C", 0.5),
        Override("a.b", "x`id`;rm -rf /"),
        Override("a.c", "'; rm -rf / #"),
        Override("a.d", 'it\'s "quoted" | & > <'),
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        ("lr=0.1\n'; rm -rf / #\n", 'line 2: --set "\'; rm -rf / #" is not key=value'),
        ("lr=0.1\nrm -rf /\n", "line 2: --set 'rm -rf /' is not key=value"),
        ("a=x\tb\n", "line 1: --set a: the value must be one line"),
        ("a='; rm -rf / #\n", 'line 1: --set a="\'; rm -rf / #" is not a YAML value'),
        ("a=1\n" * 201, "201 --set values; at most 200"),
    ],
)
def test_a_bad_line_of_a_set_file_is_a_usage_error_naming_it(tmp_path, content, message):
    path = tmp_path / "overrides"
    path.write_text(content)
    with pytest.raises(UsageError) as caught:
        parse_set(read_set_file(path))
    assert message in str(caught.value)


def test_a_set_file_must_be_a_small_regular_utf8_file(tmp_path):
    with pytest.raises(UsageError, match="not written"):
        read_set_file(tmp_path / "missing")
    (tmp_path / "target").write_text("a=1\n")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(UsageError, match="symbolic link"):
        read_set_file(tmp_path / "link")
    (tmp_path / "latin").write_bytes(b"a=\xe9\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        read_set_file(tmp_path / "latin")
