"""Safe YAML loading that remembers where every key and value came from.

PyYAML's safe loader drops positions; we compose the node tree, construct the data with the
same safe constructor, then walk both to map each key path to its line and column. Duplicate
keys (which PyYAML silently resolves to the last one) are reported as problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlci.errors import ConfigError, Problem

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """`('hosts', 0, 'gpus')` → `hosts[0].gpus`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class YamlSource:
    """Parsed YAML data plus the position of every key and value in the file."""

    file: str
    data: Any
    value_pos: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    key_pos: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: KeyPath, *, key: bool = False) -> tuple[int, int]:
        """Line/column for `path`, falling back to its nearest located parent."""
        table = self.key_pos if key else self.value_pos
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in table:
                return table[prefix]
            if prefix in self.value_pos:
                return self.value_pos[prefix]
        return (1, 1)

    def problem(self, path: KeyPath, message: str, *, key: bool = False) -> Problem:
        line, col = self.locate(path, key=key)
        return Problem(self.file, line, col, format_path(path), message)


def load_yaml(path: Path, display_name: str | None = None) -> YamlSource:
    """Load one YAML document; raise ConfigError with file:line:col on any syntax problem."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, 1, 1, "", "file not found — create it or pass --root")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(name, 1, 1, "", f"not UTF-8 text ({exc.reason}) — save it as UTF-8")]) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> YamlSource:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([Problem(name, line, col, "", f"YAML syntax error: {what} — fix the syntax here")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(name, 1, 1, "", f"YAML error: {exc} — fix the syntax")]) from None
    finally:
        loader.dispose()
    source = YamlSource(name, data)
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), source, problems)
    if problems:
        raise ConfigError(problems)
    return source


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(node: yaml.Node, path: KeyPath, source: YamlSource, problems: list[Problem]) -> None:
    source.value_pos[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            if key in seen:
                line, col = _mark(key_node)
                problems.append(
                    Problem(source.file, line, col, format_path(child), "duplicate key — keep only one of them")
                )
            seen.add(key)
            source.key_pos[child] = _mark(key_node)
            _walk(value_node, child, source, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), source, problems)
