"""Experiment overrides: `--set key.path=value` applied to a copy of the project's config.yaml.

Each value is one YAML scalar (`0.01`, `true`, `adam`, `"quoted text"`); each key must already be
in config.yaml, and keep its type (an int may become a float, nothing else changes kind), so a
typo or a wrong type is an error before anything runs, located in config.yaml with "did you mean".
The project's file is never modified: the run gets the merged copy (its effective config), which
the record keeps beside status.json and hashes.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlci.boundary import check_input_file, read_small_file
from mlci.errors import ConfigError, Problem, UsageError
from mlci.manifest.yamlsource import YamlSource, load_yaml

CONFIG_FILE = "config.yaml"
_KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,127}){0,31}")
_VALUE_MAX = 1024
_FLOAT_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
MAX_OVERRIDES = 200


@dataclass(frozen=True)
class Override:
    key: str  # dotted path as given
    value: Any  # the YAML scalar it parses to

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))


def parse_set(items: list[str] | tuple[str, ...]) -> list[Override]:
    """`key.path=value` items, in order (a later one for the same key wins)."""
    if len(items) > MAX_OVERRIDES:
        raise UsageError(f"{len(items)} --set values; at most {MAX_OVERRIDES}", hint="put them in config.yaml")
    found: dict[str, Override] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not _KEY_RE.fullmatch(key):
            raise UsageError(
                f"--set {item[:80]!r} is not key=value",
                hint="use a dotted key of config.yaml, e.g. --set optimizer.lr=0.01 (letters, digits, _ and -)",
            )
        if len(raw) > _VALUE_MAX or any(ord(c) < 32 or ord(c) == 127 for c in raw):
            raise UsageError(
                f"--set {key}: the value must be one line of at most {_VALUE_MAX} characters without control characters"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = None
            raise UsageError(
                f"--set {key}={raw[:80]!r} is not a YAML value", hint="quote text with special characters"
            ) from None
        if isinstance(value, str) and _FLOAT_RE.fullmatch(raw.strip()):
            value = float(raw)  # YAML 1.1 reads 1e-3 as text; every user means the number
        if isinstance(value, dict | list) or not isinstance(value, str | int | float | bool | None):
            raise UsageError(
                f"--set {key}={raw[:80]!r} must be a single value (a number, true/false or text)",
                hint="set the keys of a mapping one by one, e.g. --set model.depth=4",
            )
        found.pop(key, None)
        found[key] = Override(key, value)
    return list(found.values())


SET_FILE_MAX_BYTES = 256 << 10  # MAX_OVERRIDES lines of at most _VALUE_MAX characters, with room to spare


def read_set_file(path: Path) -> list[str]:
    """`--set-file PATH`: the `--set` items of a file, one `key=value` per line (blank lines and lines
    starting with # skipped, CRLF accepted). The Jenkins job mlci-experiment writes its OVERRIDES
    parameter here, so the values reach mlci as data and never pass through a shell. Each line is
    checked as a `--set` item is, and an error names its line."""
    raw = read_small_file(path, max_bytes=SET_FILE_MAX_BYTES)
    if isinstance(raw, str):
        raise UsageError(f"--set-file {path}: {raw}", hint="give a small regular file of key=value lines")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--set-file {path}: not UTF-8 text") from None
    items: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        try:
            parse_set([item])
        except UsageError as exc:
            raise UsageError(f"--set-file {path} line {number}: {exc.message}", hint=exc.hint) from None
        items.append(item)
    return items


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a mapping" if isinstance(value, dict) else "a list"


def apply_overrides(source: YamlSource, overrides: list[Override]) -> dict[str, Any]:
    """A copy of config.yaml's data with `overrides` set; every problem at once, located."""
    if not isinstance(source.data, dict):
        raise ConfigError([source.problem((), "config.yaml must be a mapping to take --set values")])
    data = copy.deepcopy(source.data)
    problems: list[Problem] = []
    for override in overrides:
        parent: Any = data
        path = override.path
        for depth, part in enumerate(path):
            here = path[: depth + 1]
            if isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
                key: Any = int(part)
            elif isinstance(parent, dict) and part in parent:
                key = part
            else:
                choices = [str(k) for k in parent] if isinstance(parent, dict) else []
                close = [c for c in choices if c.lower() == part.lower()] or difflib.get_close_matches(
                    part, choices, n=1, cutoff=0.6
                )
                fix = (
                    f"did you mean '{'.'.join((*path[:depth], close[0]))}'?"
                    if close
                    else (f"keys here: {', '.join(choices[:20])}" if choices else "it has no keys to set")
                )
                problems.append(
                    source.problem(here[:-1], f"--set {override.key}: '{part}' is not a key of config.yaml — {fix}")
                )
                break
            if depth < len(path) - 1:
                parent = parent[key]
                continue
            old = parent[key]
            if isinstance(old, dict | list):
                problems.append(
                    source.problem(
                        here,
                        f"it is {_kind(old)}, not a value — set its entries one by one (--set {override.key}.KEY=VALUE)",
                    )
                )
            elif old is not None and _kind(old) != _kind(override.value):
                problems.append(
                    source.problem(
                        here,
                        f"--set gives {override.value!r}, which is {_kind(override.value)}, but config.yaml has "
                        f"{_kind(old)} ({old!r}) — give {_kind(old)}, or change the type in config.yaml",
                    )
                )
            else:
                parent[key] = override.value
    if problems:
        raise ConfigError(problems)
    return data


CONFIG_MAX_BYTES = 16 << 20  # a config is a few KiB; this only stops a runaway file


@dataclass(frozen=True)
class EffectiveConfig:
    content: bytes
    sha256: str


def effective_config(project_dir: Path, project: str, overrides: list[Override]) -> EffectiveConfig | None:
    """The config the stages see: config.yaml as is, or with `overrides` applied (None: the project
    has no config.yaml and nothing to override)."""
    path = project_dir / CONFIG_FILE
    shown = f"projects/{project}/{CONFIG_FILE}"
    if not os.path.lexists(path):
        if overrides:
            raise UsageError(f"--set needs {shown}, which does not exist", hint="add the keys to set to it first")
        return None
    real = check_input_file(path, shown, within=project_dir)  # a link would read its host target
    if overrides:
        data = apply_overrides(load_yaml(real, shown), overrides)
        content = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False).encode()
    else:  # byte for byte: the stages see exactly the project's file
        raw = read_small_file(real, max_bytes=CONFIG_MAX_BYTES)
        if isinstance(raw, str):
            raise UsageError(f"{shown} is {raw}", hint="keep config.yaml a small regular file")
        content = raw
    return EffectiveConfig(content, "sha256:" + hashlib.sha256(content).hexdigest())
