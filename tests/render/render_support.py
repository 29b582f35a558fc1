"""Shared by the render tests: scenario discovery, parsing every rendered file, Groovy literals."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from mlci.render import RenderedFile

SCENARIOS = Path(__file__).parent / "scenarios"
ERROR_FILE = "expected_error.txt"


def scenario_dirs(kind: str) -> list[Path]:
    """`ok`: scenarios with expected/ files; `error`: scenarios with an expected error."""
    dirs = sorted(p for p in SCENARIOS.iterdir() if (p / "mlci.yaml").is_file())
    if kind == "error":
        return [p for p in dirs if p.name.startswith("err-")]
    return [p for p in dirs if not p.name.startswith("err-")]


def parse(file: RenderedFile) -> Any:
    """The parsed content of a rendered file (YAML/TOML), or None for text files."""
    if file.path.endswith((".yml", ".yaml")):
        return yaml.safe_load(file.content)
    if file.path.endswith(".toml"):
        return tomllib.loads(file.content)
    return None


def by_path(files: list[RenderedFile]) -> dict[str, RenderedFile]:
    return {f.path: f for f in files}


def job_dsl(files: list[RenderedFile]) -> str:
    casc = parse(by_path(files)["jenkins/casc.yaml"])
    return casc["jobs"][0]["script"]


# ---------------------------------------------------------------- Groovy single-quoted literals

_LITERAL = re.compile(r"'((?:[^'\\\n]|\\.)*)'")
_ESCAPES = {"\\": "\\", "'": "'", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "$": "$"}


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
        elif body[i + 1] == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            out.append(_ESCAPES[body[i + 1]])
            i += 2
    return "".join(out)


def groovy_literals(code: str) -> list[str]:
    """The values of every single-quoted literal, in order (comments hold no quotes here)."""
    return [_unescape(m.group(1)) for m in _LITERAL.finditer(_strip_comments(code))]


def groovy_skeleton(code: str) -> str:
    """The code with every literal replaced by '…': what must not change when values do."""
    return _LITERAL.sub("'…'", _strip_comments(code))


def _strip_comments(code: str) -> str:
    return "\n".join(line for line in code.split("\n") if not line.lstrip().startswith("//"))


def shape(data: Any) -> Any:
    """The structure of parsed data with leaves reduced to their type: injection must not change it."""
    if isinstance(data, dict):
        return {k: shape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [shape(v) for v in data]
    return type(data).__name__


def leaves(data: Any) -> list[Any]:
    if isinstance(data, dict):
        return [x for k, v in data.items() for x in (k, *leaves(v))]
    if isinstance(data, list):
        return [x for v in data for x in leaves(v)]
    return [data]
