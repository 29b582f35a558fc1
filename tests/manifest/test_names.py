"""Names become directories, image tags, labels and shell words: a trailing newline (which a
`$`-anchored pattern lets through) must never pass, wherever a name is checked."""

from __future__ import annotations

import re
import typing

import pytest
from pydantic import BaseModel

from mlci.cli import main
from mlci.manifest import fields, schema


def _patterns(annotation: typing.Any) -> typing.Iterator[str]:
    for meta in getattr(annotation, "__metadata__", ()):
        if getattr(meta, "pattern", None):
            yield meta.pattern
    for arg in typing.get_args(annotation):
        yield from _patterns(arg)


def _all_patterns() -> list[str]:
    found = []
    for value in vars(schema).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
            for field in value.model_fields.values():
                found += [m.pattern for m in field.metadata if getattr(m, "pattern", None)]
                found += list(_patterns(field.annotation))
    return found


def test_every_schema_pattern_is_anchored_at_the_very_end():
    patterns = _all_patterns()
    assert len(patterns) > 10
    for pattern in patterns:
        # `$` (outside a character class) also matches before a final newline; `\Z` does not
        assert not re.search(r"(?<!\\)\$(\)|\||$)", pattern), pattern


@pytest.mark.parametrize(
    "pattern",
    [fields.NAME_RE, fields.SECRET_RE, fields.STAGE_RE, fields.HOSTNAME_RE, fields.URL_RE, fields.LABEL_RE],
)
def test_named_patterns_refuse_a_trailing_newline(pattern):
    sample = {
        fields.NAME_RE: "acme",
        fields.SECRET_RE: "HF_TOKEN",
        fields.STAGE_RE: "train",
        fields.HOSTNAME_RE: "gpu-01.example.com",
        fields.URL_RE: "https://example.com/x.git",
        fields.LABEL_RE: "gpu",
    }[pattern]
    assert re.match(pattern, sample)
    assert not re.match(pattern, sample + "\n")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: acme\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLCI_ROOT", raising=False)
    return tmp_path


def test_manifest_name_with_a_newline_is_a_located_error(repo, capsys):
    (repo / "mlci.yaml").write_text('version: 1\nname: "acme\\n"\n')
    assert main(["validate"]) == 2
    assert capsys.readouterr().err.startswith("mlci.yaml:2:7: name: invalid value 'acme\\n'")


def test_new_refuses_a_name_with_a_newline(repo, capsys):
    assert main(["new", "y\n"]) == 2
    assert "not a valid project name" in capsys.readouterr().err
    assert not (repo / "projects").exists() or not any((repo / "projects").iterdir())


@pytest.mark.parametrize(
    "argv",
    [
        ["logs", "demo", "abc\n"],
        ["logs", "demo", "../../.."],
        ["status", "demo\n"],
        ["publish", "demo", "x\n"],
    ],
)
def test_commands_refuse_names_that_could_not_have_been_created(repo, capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
