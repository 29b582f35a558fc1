"""Manifests come from pull requests: loading them is bounded, and every failure is a located error.

The property tests feed arbitrary bytes and YAML-shaped documents (anchors and aliases included)
to the loader: the only acceptable outcomes are a value or a ConfigError, never another exception.
Hang-prone cases (alias bombs, FIFOs, /dev/zero) run the real CLI in a subprocess under a memory
limit and a timeout, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlci.cli import main
from mlci.errors import ConfigError
from mlci.manifest.loader import validate_source
from mlci.manifest.project import Project
from mlci.manifest.schema import Manifest
from mlci.manifest.yamlsource import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_yaml, parse_yaml

BOMB = (
    "version: 1\nname: bomb\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)


def _limit_memory() -> None:  # runs in the child: 1 GiB of address space is plenty for mlci validate
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def validate_in_subprocess(repo: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MLCI_ROOT"}
    return subprocess.run(
        [sys.executable, "-m", "mlci", "validate"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )


def assert_located(err: str, file: str = "mlci.yaml") -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    first = err.splitlines()[0]
    name, line, col, _ = first.split(":", 3)
    assert name == file and line.isdigit() and col.isdigit(), first
    assert " — " in first, first


# ------------------------------------------------------------------ the CLI on hostile files


def test_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path):
    (tmp_path / "mlci.yaml").write_text(BOMB)
    result = validate_in_subprocess(tmp_path)
    assert result.returncode == 2, result.stderr
    assert_located(result.stderr)
    assert "through aliases" in result.stderr


def test_recursive_alias_is_refused(tmp_path):
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: x\nk: &a [1, *a]\n")
    result = validate_in_subprocess(tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("mlci.yaml:3:4: an alias refers to a node that contains it"), result.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev-zero-link", "directory", "link-out-of-tree"])
def test_a_manifest_that_is_not_a_regular_file_is_refused_without_reading_it(tmp_path, kind):
    path = tmp_path / "mlci.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero-link":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    else:
        outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
        outside.write_text("version: 1\nname: outside\n")
        path.symlink_to(outside)
    result = validate_in_subprocess(tmp_path)
    assert result.returncode == 2, result.stderr
    assert_located(result.stderr)
    expected = {"fifo": "not a regular file", "directory": "is a directory"}.get(kind, "is a symbolic link")
    assert expected in result.stderr


@pytest.mark.parametrize(
    ("content", "where", "what"),
    [
        (b"version: 1\nname: x\x00\n", "mlci.yaml:2:8:", "U+0000 is not allowed"),
        (
            b"version: 1\nname: x\nk: " + b"[" * 100 + b"]" * 100 + b"\n",
            "mlci.yaml:3:",
            f"more than {MAX_DEPTH} levels",
        ),
        (b"version: 1\nname: x\nk: " + b"9" * 5000 + b"\n", "mlci.yaml:3:4:", "unreadable value"),
        (b"version: 1\nname: \xff\n", "mlci.yaml:2:7:", "not UTF-8"),
        (b"version: 1\nname: x\nk: !!python/object:os.system x\n", "mlci.yaml:3:4:", "YAML syntax error"),
        (b"version: 1\nname: x\nk: " + b"a" * (MAX_BYTES + 1) + b"\n", "mlci.yaml:1:1:", "byte limit"),
    ],
    ids=["nul-byte", "deep-nesting", "huge-int", "not-utf8", "python-tag", "too-big"],
)
def test_parser_failures_are_located_errors_with_exit_2(tmp_path, monkeypatch, capsys, content, where, what):
    (tmp_path / "mlci.yaml").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLCI_ROOT", raising=False)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert_located(err)
    assert err.startswith(where), err
    assert what in err


def test_project_yaml_is_held_to_the_same_bounds(tmp_path, monkeypatch, capsys):
    (tmp_path / "mlci.yaml").write_text("version: 1\nname: x\n")
    (tmp_path / "projects" / "p").mkdir(parents=True)
    os.mkfifo(tmp_path / "projects" / "p" / "project.yaml")
    (tmp_path / "projects" / "q").mkdir()
    (tmp_path / "projects" / "q" / "project.yaml").write_text(BOMB.replace("version: 1\nname: bomb\n", ""))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLCI_ROOT", raising=False)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "projects/p/project.yaml:1:1: is not a regular file" in err
    assert "projects/q/project.yaml:" in err and "through aliases" in err


def test_a_project_directory_linked_from_elsewhere_is_refused(tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "project.yaml").write_text("gpus: none\n")
    repo = tmp_path / "repo"
    (repo / "projects").mkdir(parents=True)
    (repo / "mlci.yaml").write_text("version: 1\nname: x\n")
    (repo / "projects" / "linked").symlink_to(elsewhere)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("MLCI_ROOT", raising=False)
    assert main(["validate"]) == 2
    assert "projects/linked:1:1: is a symbolic link" in capsys.readouterr().err


# ------------------------------------------------------------------ properties

PROPERTY = settings(
    max_examples=int(os.environ.get("MLCI_HYPOTHESIS_EXAMPLES", "150")),
    deadline=5000,
    suppress_health_check=[HealthCheck.too_slow],
)


def _load_all_ways(text: str) -> None:
    try:
        source = parse_yaml(text, "mlci.yaml")
    except ConfigError as exc:
        assert all(p.file == "mlci.yaml" and p.line >= 1 and p.col >= 1 for p in exc.problems)
        return
    _validate_both(source)


def _validate_both(source) -> None:
    for model in (Manifest, Project):
        try:
            validate_source(source, model)
        except ConfigError as exc:
            assert all(p.line >= 1 and p.col >= 1 and " — " in p.message for p in exc.problems), exc


@PROPERTY
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_a_value_or_a_located_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "mlci.yaml"
    path.write_bytes(data)
    try:
        source = load_yaml(path, "mlci.yaml")
    except ConfigError:
        return
    _validate_both(source)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["auto", "all", "none", "2h", "0,1", "main", "local", "accuracy"]),
)
keys = st.sampled_from(
    ["version", "name", "hosts", "gpus", "stages", "gate", "run", "min", "max", "retrain", "publish", "artifacts"]
) | st.text(max_size=8)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=30,
)


@PROPERTY
@given(documents)
def test_yaml_shaped_documents_give_a_value_or_a_located_error(doc):
    _load_all_ways(yaml.safe_dump(doc, allow_unicode=True))


fragments = st.sampled_from(
    [
        "&a ",
        "*a",
        "&b ",
        "*b",
        "[",
        "]",
        "{",
        "}",
        ": ",
        "- ",
        "\n",
        "  ",
        "<<: *a\n",
        "? ",
        "!!str ",
        "!!int ",
        "'",
        '"',
    ]
)


@PROPERTY
@given(st.lists(fragments | st.text(max_size=5), max_size=60))
def test_fragment_soup_with_anchors_gives_a_value_or_a_located_error(parts):
    _load_all_ways("".join(parts))


@PROPERTY
@given(st.integers(min_value=2, max_value=12), st.integers(min_value=1, max_value=12))
def test_alias_fanout_is_refused_exactly_when_its_expansion_exceeds_the_bound(width, depth):
    lines, size, total = ["a0: &a0 [x]"], 2, 1 + 1 + 2  # the mapping, key a0, its list and x
    for level in range(1, depth + 1):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
        size = 1 + width * size
        total += 1 + size
    try:
        parse_yaml("\n".join(lines) + "\n", "mlci.yaml")
    except ConfigError as exc:
        assert total > MAX_NODES and "through aliases" in str(exc)
    else:
        assert total <= MAX_NODES
