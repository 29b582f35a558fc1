"""Load mlci.yaml and project.yaml files into the typed schema, with located errors."""

from __future__ import annotations

import difflib
import os
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlci.errors import ConfigError, Problem, UsageError
from mlci.manifest.environments import environment_problems
from mlci.manifest.fields import NAME_RE, SECRET_RE
from mlci.manifest.project import Project
from mlci.manifest.schema import Manifest
from mlci.manifest.yamlsource import KeyPath, YamlSource, format_path, load_yaml

MANIFEST_FILE = "mlci.yaml"
PROJECTS_DIR = "projects"
PROJECT_FILE = "project.yaml"

M = TypeVar("M", bound=BaseModel)

# What to suggest for the common pydantic error types; the message itself says what is wrong.
_HINTS = {
    "int_type": "use a whole number",
    "int_parsing": "use a whole number",
    "int_parsing_size": "use a whole number of at most 19 digits",
    "float_type": "use a number",
    "float_parsing": "use a number",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "string_type": "use a quoted string",
    "list_type": "use a YAML list, e.g. [a, b]",
    "dict_type": "use a mapping of key: value",
    "model_type": "use a mapping of key: value",
    "model_attributes_type": "use a mapping of key: value",
    "greater_than_equal": "raise the value",
    "less_than_equal": "lower the value",
    "too_short": "add at least one entry",
}


@dataclass(frozen=True)
class ProjectSpec:
    """A discovered project: its name, directory and validated settings."""

    name: str
    path: Path
    config: Project


def find_root(start: Path | None = None) -> Path:
    """The monorepo root: $MLCI_ROOT, else the nearest parent holding mlci.yaml or projects/."""
    if env := os.environ.get("MLCI_ROOT"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        # lexists: a manifest that is a link, FIFO or directory is still *the* manifest, and loading
        # it then says what is wrong with it (instead of silently looking further up)
        if os.path.lexists(candidate / MANIFEST_FILE) or (candidate / PROJECTS_DIR).is_dir():
            return candidate
    raise UsageError(
        f"no {MANIFEST_FILE} or {PROJECTS_DIR}/ found in {here} or its parents",
        hint="run mlci inside the monorepo, or pass --root / set MLCI_ROOT",
    )


def validate_source(source: YamlSource, model: type[M]) -> M:
    data = {} if source.data is None else source.data
    if not isinstance(data, dict):
        raise ConfigError([source.problem((), "the file must be a mapping of key: value — e.g. `gpus: auto`")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_to_problem(source, err, model) for err in exc.errors()]) from None


def load_manifest(root: Path) -> Manifest:
    """mlci.yaml at `root`; the embedded defaults when the file does not exist."""
    path = root / MANIFEST_FILE
    if not os.path.lexists(path):
        name = re.sub(r"[^a-z0-9-]+", "-", root.name.lower()).strip("-")[:63] or "mlci"
        return Manifest(version=1, name=name)
    source = load_yaml(path, MANIFEST_FILE)
    manifest = validate_source(source, Manifest)
    problems = environment_problems(
        manifest.environments,
        stores=list(manifest.artifacts.stores),
        host_names=[h.name for h in manifest.hosts],
        host_labels=sorted({label for h in manifest.hosts for label in h.labels}),
        jenkins_users=[manifest.jenkins.admin_user, *(a.user for a in manifest.jenkins.approvers)],
    )
    if problems:
        raise ConfigError([source.problem(where, message) for where, message in problems])
    return manifest


def project_names(root: Path) -> list[str]:
    base = root / PROJECTS_DIR
    if not base.is_dir():
        return []
    return sorted(p.parent.name for p in base.glob(f"*/{PROJECT_FILE}"))


def load_project(root: Path, name: str) -> ProjectSpec:
    if not re.fullmatch(NAME_RE, name):
        raise UsageError(
            f"'{name}' is not a valid project name",
            hint="use lowercase letters, digits and dashes, at most 63 characters",
        )
    path = root / PROJECTS_DIR / name
    if path.is_symlink():
        message = "is a symbolic link — mlci never follows links out of the repository; move the project here"
        raise ConfigError([Problem(f"{PROJECTS_DIR}/{name}", 1, 1, "", message)])
    if not os.path.lexists(path / PROJECT_FILE):
        known = project_names(root)
        close = difflib.get_close_matches(name, known, n=1)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else (f"known projects: {', '.join(known)}" if known else "create one with `mlci new NAME`")
        )
        raise UsageError(f"no project '{name}' (expected {PROJECTS_DIR}/{name}/{PROJECT_FILE})", hint=hint)
    display = f"{PROJECTS_DIR}/{name}/{PROJECT_FILE}"
    return ProjectSpec(name, path, validate_source(load_yaml(path / PROJECT_FILE, display), Project))


def load_all(root: Path) -> tuple[Manifest, list[ProjectSpec]]:
    """Validate the manifest and every project, collecting all problems before failing."""
    problems: list[Problem] = []
    manifest = None
    try:
        manifest = load_manifest(root)
    except ConfigError as exc:
        problems.extend(exc.problems)
    projects: list[ProjectSpec] = []
    base = root / PROJECTS_DIR
    if base.is_dir():
        for child in sorted(base.iterdir()):
            if not os.path.lexists(child / PROJECT_FILE):
                continue
            if not re.fullmatch(NAME_RE, child.name):
                problems.append(
                    Problem(
                        f"{PROJECTS_DIR}/{child.name}/{PROJECT_FILE}",
                        1,
                        1,
                        "",
                        "invalid project directory name — rename it to lowercase letters,"
                        " digits and dashes (at most 63 characters)",
                    )
                )
                continue
            try:
                projects.append(load_project(root, child.name))
            except ConfigError as exc:
                problems.extend(exc.problems)
    if manifest is not None:
        problems.extend(_cross_check(manifest, projects))
    if problems:
        raise ConfigError(problems)
    assert manifest is not None
    return manifest, projects


def _cross_check(manifest: Manifest, projects: list[ProjectSpec]) -> list[Problem]:
    problems = []
    for spec in projects:
        store = spec.config.publish.store
        if store and store not in manifest.artifacts.stores:
            display = f"{PROJECTS_DIR}/{spec.name}/{PROJECT_FILE}"
            source = load_yaml(spec.path / PROJECT_FILE, display)
            choices = ", ".join(sorted(manifest.artifacts.stores))
            problems.append(
                source.problem(
                    ("publish", "store"), f"store '{store}' is not defined in {MANIFEST_FILE} — use one of: {choices}"
                )
            )
    return problems


def _clean_loc(data: Any, loc: tuple[Any, ...]) -> KeyPath:
    """Map a pydantic error location onto the YAML data, dropping union/tag segments."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif (
            last
            and isinstance(part, str)
            and isinstance(node, dict)
            and not part.startswith(("function-", "union[", "literal["))
        ):
            path.append(part)  # a missing or unknown key
    return tuple(path)


def _model_at(model: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The pydantic model that holds the mapping at `path` (for 'did you mean')."""
    current: Any = model
    keyed = False  # the previous field is a mapping of names (artifacts.stores, environments): skip the name
    for part in path:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        keyed = typing.get_origin(field.annotation) is dict
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Reach the model inside Optional[...], list[...] or dict[str, ...]."""
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _to_problem(source: YamlSource, err: dict[str, Any], model: type[BaseModel]) -> Problem:
    path = _clean_loc(source.data if isinstance(source.data, dict) else {}, err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        owner = _model_at(model, path[:-1])
        allowed = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        fix = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return source.problem(path, f"unknown key '{key}' — {fix}", key=True)
    if kind == "missing":
        key = str(path[-1]) if path else "?"
        return source.problem(path, f"required key is missing — add `{key}:`", key=True)
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return source.problem(path, f"must be one of {expected} — got {err['input']!r}")
    if kind == "string_pattern_mismatch" and err["loc"][-1:] == ("[key]",):  # a name of a mapping's entry
        where = path[:-1] if path[-1:] == ("[key]",) else path
        hint = "use lowercase letters, digits and dashes, starting with a letter or digit (max 63)"
        line, col = source.locate(where, key=True)  # the path stops at the mapping: the name may hold anything
        return Problem(source.file, line, col, format_path(where[:-1]), f"invalid name {err['input']!r} — {hint}")
    if kind == "string_pattern_mismatch":
        return source.problem(path, _pattern_message(path, err))
    message = err["msg"].removeprefix("Value error, ")
    # every problem says how to fix it: an error type we have no words for points at the docs
    hint = _HINTS.get(kind, "see the README's description of this key")
    if "—" not in message:
        message = f"{message} — {hint}"
    return source.problem(path, message)


def _pattern_message(path: KeyPath, err: dict[str, Any]) -> str:
    key = next((p for p in reversed(path) if isinstance(p, str)), "")
    value = err["input"]
    by_key = {
        "name": "use lowercase letters, digits and dashes, starting with a letter or digit (max 63)",
        "url": "use a plain URL such as https://host/path, without quotes, spaces, $, `, { or }",
        "endpoint_url": "use a plain URL such as https://host/path, without quotes, spaces, $, `, { or }",
        "uri": "use a plain URL such as https://mlflow.example:5000, without quotes, spaces, $, `, { or }",
        "address": "use a hostname or an IP address",
        "server": "use a hostname or an IP address",
        "bind": "use an IP address such as 127.0.0.1",
        # jenkins.plugins: URLs jenkins-plugin-cli fetches
        "update_center": "use an http(s) URL such as https://mirror.example/update-center.json, without quotes,"
        " spaces, $, `, { or }",
        "plugin_info": "use an http(s) URL such as https://mirror.example/plugin-versions.json, without quotes,"
        " spaces, $, `, { or }",
        "mirror": "use an http(s) URL such as https://mirror.example/download/plugins, without quotes, spaces,"
        " $, `, { or }",
    }
    if key in by_key:
        hint = by_key[key]
    elif str(err.get("ctx", {}).get("pattern")) == SECRET_RE:
        hint = "name a secret (UPPER_SNAKE_CASE, e.g. HF_TOKEN), never its value"
    else:
        hint = "remove quotes, spaces, $, backticks, braces and other special characters"
    return f"invalid value {value!r} — {hint}"
