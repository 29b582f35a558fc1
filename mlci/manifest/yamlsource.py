"""Safe, bounded YAML loading that remembers where every key and value came from.

PyYAML's safe loader drops positions; we compose the node tree, construct the data with the
same safe constructor, then walk both to map each key path to its line and column. Duplicate
keys (which PyYAML silently resolves to the last one) are reported as problems.

Manifests come from pull requests, so loading is bounded before anything grows: only regular
files (never a FIFO, a device or a symlink), at most MAX_BYTES, nesting at most MAX_DEPTH deep,
and at most MAX_NODES nodes once aliases are expanded (a "billion laughs" document is a few
hundred bytes). Every failure is a located Problem, never a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
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


MAX_BYTES = 1 << 20  # a manifest or project.yaml is a few KiB; 1 MiB is generous
MAX_DEPTH = 64
MAX_NODES = 100_000  # counted with aliases expanded


class _LimitExceeded(yaml.MarkedYAMLError):
    """A bound was crossed while composing; carries the position like PyYAML's own errors."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses nesting deeper than MAX_DEPTH while composing (PyYAML recurses)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitExceeded(
                    problem=f"nested more than {MAX_DEPTH} levels deep — flatten the structure",
                    problem_mark=self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.MarkedYAMLError:
            raise
        except Exception as exc:  # PyYAML constructors raise IndexError, ValueError, ... on odd input
            # e.g. `!!int` with no digits, an integer past Python's digit limit, a timestamp out of range
            raise _LimitExceeded(
                problem=f"unreadable value ({exc}) — quote it or use a smaller value", problem_mark=node.start_mark
            ) from None


def read_text_bounded(path: Path, name: str, *, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes`; a located ConfigError otherwise.

    Opened with O_NOFOLLOW and O_NONBLOCK and checked with fstat, so a symlink (to /dev/zero, or out
    of the repository), a FIFO or a directory is refused without ever blocking or reading it.
    """

    def refuse(message: str) -> ConfigError:
        return ConfigError([Problem(name, 1, 1, "", message)])

    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise refuse("file not found — create it or pass --root") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse("is a symbolic link — mlci reads only regular files; replace the link with the file") from None
        raise refuse(f"cannot be read ({exc.strerror}) — check its permissions") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise refuse("is a directory — it must be a YAML file")
        if not stat.S_ISREG(info.st_mode):
            raise refuse("is not a regular file (a FIFO, socket or device) — replace it with a YAML file")
        if info.st_size > max_bytes:
            raise refuse(f"is {info.st_size} bytes, over the {max_bytes} byte limit — keep it small")
        data = b""
        while len(data) <= max_bytes and (chunk := os.read(fd, max_bytes + 1 - len(data))):
            data += chunk
        if len(data) > max_bytes:
            raise refuse(f"is over the {max_bytes} byte limit — keep it small")
    except OSError as exc:
        raise refuse(f"cannot be read ({exc.strerror}) — check the file") from None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = data[: exc.start].decode("utf-8", "replace")
        line, col = _position(prefix, len(prefix))
        raise ConfigError([Problem(name, line, col, "", f"not UTF-8 text ({exc.reason}) — save it as UTF-8")]) from None


def load_yaml(path: Path, display_name: str | None = None) -> YamlSource:
    """Load one YAML document; raise ConfigError with file:line:col on any problem."""
    name = display_name or str(path)
    return parse_yaml(read_text_bounded(path, name), name)


def parse_yaml(text: str, name: str) -> YamlSource:
    if len(text) > MAX_BYTES:
        raise ConfigError([Problem(name, 1, 1, "", f"over the {MAX_BYTES} byte limit — keep it small")])
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader rejects forbidden characters (e.g. NUL) right here
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        prefix = "" if isinstance(exc, _LimitExceeded) else "YAML syntax error: "
        fix = "" if "—" in what else " — fix the syntax here"
        raise ConfigError([Problem(name, line, col, "", f"{prefix}{what}{fix}")]) from None
    except yaml.reader.ReaderError as exc:  # a NUL byte or another character YAML forbids
        line, col = _position(text, exc.position)
        what = (
            f"character U+{exc.character:04X} is not allowed in YAML" if isinstance(exc.character, int) else exc.reason
        )
        raise ConfigError([Problem(name, line, col, "", f"{what} — remove it")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(name, 1, 1, "", f"YAML error: {exc} — fix the syntax")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    source = YamlSource(name, data)
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), source, problems)
    if problems:
        raise ConfigError(problems)
    return source


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character `offset` in `text`."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _check_expansion(root: yaml.Node) -> None:
    """Refuse alias cycles and documents whose alias-expanded size exceeds MAX_NODES.

    Each distinct node is visited once (iteratively, so depth costs no stack): a node's expanded
    size is 1 plus its children's, memoised, so a bomb is measured without being expanded.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > MAX_NODES:
                raise _LimitExceeded(
                    problem=f"expands to more than {MAX_NODES} values through aliases (*name) — "
                    "write the values out or use fewer aliases",
                    problem_mark=node.start_mark,
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise _LimitExceeded(
                problem="an alias refers to a node that contains it — remove the recursive alias",
                problem_mark=node.start_mark,
            )
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _LimitExceeded(
                    problem="an alias refers to a node that contains it — remove the recursive alias",
                    problem_mark=child.start_mark,
                )
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(node: yaml.Node, path: KeyPath, source: YamlSource, problems: list[Problem]) -> None:
    source.value_pos[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            if key_node.tag != "tag:yaml.org,2002:str":
                line, col = _mark(key_node)
                problems.append(
                    Problem(source.file, line, col, format_path(child), "a key must be text — quote it or rename it")
                )
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
