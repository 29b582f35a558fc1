"""Sizes and durations: one grammar (mlci/manifest/units.py) for mlci.yaml, project.yaml and the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlci.cli import main
from mlci.errors import ConfigError
from mlci.manifest import load_manifest, load_project
from mlci.manifest.units import MAX_DURATION, MAX_SIZE, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096),
        (4096, 4096),
        ("1b", 1),
        ("500m", 500 << 20),
        ("500M", 500 << 20),
        ("500MB", 500 << 20),
        ("500MiB", 500 << 20),
        ("20g", 20 << 30),
        ("1.5t", 3 << 39),
        ("1.5T", 3 << 39),
        ("0.5k", 512),
        ("1.000001k", 1024),  # rounded down to whole bytes
        ("8388607t", 8388607 << 40),  # the largest whole number of TiB under 2**63
        (MAX_SIZE, MAX_SIZE),
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1.5\nT",  # `mlci cache prune` used to accept this
        "20g\n",
        "\n20g",
        " 20g",
        "20 g",
        "20g ",
        "-1g",
        "+1g",
        "1e3",
        "1.g",
        ".5g",
        "20x",
        "1ib",
        "20gibb",
        "٣g",  # an Arabic-Indic digit: int() would take it, the grammar does not
        "20\u212a",  # the Kelvin sign folds to k under a Unicode case-insensitive match
        "1" * 16,  # more than 15 digits
        "1.1234567g",  # more than 6 decimals
        "8388608t",  # 2**63 bytes: one too many
        MAX_SIZE + 1,
        -1,
        True,
        1.5,
        None,
        [],
    ],
)
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


def test_zero_is_a_size_only_where_the_caller_allows_it():
    for zero in ("0", 0, "0g", "0.4b"):
        with pytest.raises(ValueError, match="larger than zero"):
            parse_size(zero)
        assert parse_size(zero, allow_zero=True) == 0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        (90, 90),
        ("45s", 45),
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("1d", 86400),
        ("2w", 2 * 604800),
        ("1w2d3h4m5s", 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("1.5", 1),  # rounded down to whole seconds
        (MAX_DURATION, MAX_DURATION),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "h",
        "2 hours",
        "2h\n",
        "2w\n",
        "1h\n30m",
        " 2h",
        "2H",  # lower case only: M would read as months to some
        "30m1h",  # largest unit first
        "1h1h",
        "-5s",
        "5y",
        "1e3s",
        "٣s",
        "9999999999w",  # past 2**31 - 1 seconds
        MAX_DURATION + 1,
        -5,
        True,
        2.5,
        None,
    ],
)
def test_bad_durations_are_refused(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_zero_is_a_duration_only_where_the_caller_allows_it():
    for zero in ("0", 0, "0s", "0h0m"):
        with pytest.raises(ValueError, match="longer than zero"):
            parse_duration(zero)
        assert parse_duration(zero, allow_zero=True) == 0


def test_messages_show_the_value_escaped_and_the_grammar():
    with pytest.raises(ValueError) as info:
        parse_size("1.5\nT")
    assert str(info.value).startswith("'1.5\\nT' is not a size — use a number with an optional unit b, k, m, g or t")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError) as info:
        parse_duration("x" * 500)
    assert len(str(info.value)) < 200 and "..." in str(info.value)


def _monorepo(tmp_path, manifest: str, project: str):
    (tmp_path / "mlci.yaml").write_text(f"version: 1\nname: acme\n{manifest}")
    (tmp_path / "projects" / "p").mkdir(parents=True)
    (tmp_path / "projects" / "p" / "project.yaml").write_text(project)
    return tmp_path


def test_manifests_accept_the_same_grammar_as_the_cli(tmp_path):
    root = _monorepo(tmp_path, "runner: {max_output_size: 1.5t}\n", "timeout: 2w\nshm_size: 512MiB\n")
    assert load_manifest(root).runner.max_output_size == 3 << 39
    config = load_project(root, "p").config
    assert config.timeout == 2 * 604800 and config.shm_size == 512 << 20


def test_manifest_errors_are_located(tmp_path):
    root = _monorepo(tmp_path, 'runner:\n  max_output_size: "1.5\\nT"\n', "gpus: none\ntimeout: 0\n")
    with pytest.raises(ConfigError) as info:
        load_manifest(root)
    assert str(info.value).startswith("mlci.yaml:4:20: runner.max_output_size: '1.5\\nT' is not a size — ")
    with pytest.raises(ConfigError) as info:
        load_project(root, "p")
    assert str(info.value).startswith("projects/p/project.yaml:2:10: timeout: must be longer than zero")


@pytest.mark.parametrize(
    ("option", "value"), [("--max-size", "1.5t"), ("--max-size", "0"), ("--older-than", "2w"), ("--older-than", "0")]
)
def test_cache_prune_accepts_the_grammar(tmp_path, option, value):
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "cache", "prune", "--dir", str(tmp_path), option, value, "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "would remove 0 cache(s)" in done.stdout


@pytest.mark.parametrize("value", ["2h\n", "1.5\nh", "2 hours", "0"])
def test_trigger_refuses_a_bad_duration_before_contacting_jenkins(value, capsys):
    assert main(["trigger", "--release", "--timeout", value]) == 2
    assert "--timeout" in capsys.readouterr().err
