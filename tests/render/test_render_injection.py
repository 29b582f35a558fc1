"""Every manifest string field × an injection corpus: each value is rejected with a located error,
or it renders inert — every output still parses, keeps the structure of the clean render (no key,
list item, Groovy statement or shell word added), and the value comes back intact as one value."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path
from typing import Any

import pytest
from render_support import by_path, groovy_literals, groovy_skeleton, job_dsl, leaves, parse, shape

from mlci.errors import ConfigError
from mlci.manifest.yamlsource import YamlSource, format_path
from mlci.render import RenderedFile, facts_from, plan_for

CORPUS = [
    "'",
    '"',
    "`id`",
    "$(id)",
    "${JENKINS_ADMIN_PASSWORD}",
    "$HOME",
    "${{ secrets.X }}",
    "{{ .Envs.HOME }}",
    "a\nb: c",
    "a\r\nb",
    "'''",
    '"""',
    ": #",
    "key: value",
    "- item",
    "\\",
    "\\u0027",
    "\\'",
    "#{1}",
    'x" = 1\n[y]',
    "a;rm -rf /",
    "a&&b|c",
    "<br>&amp;",
    "@Grab('x')",
    "\u2028",
    "\x85",
    "\t",
    "../..",
    "^${X}",
    "%{x}",
]

BASE: dict[str, Any] = {
    "version": 1,
    "name": "inj",
    "repository": {
        "url": "https://github.com/acme/ml.git",
        "branch": "main",
        "release_branch": "release",
        "credentials": "GIT_TOKEN",
    },
    "hosts": [
        {"name": "ctl", "address": "ci.example.com", "ssh_user": "ubuntu", "gpus": 0, "roles": ["controller"]},
        {"name": "gpu-a", "address": "10.0.0.2", "ssh_user": "admin", "gpus": 2, "roles": ["agent"], "labels": ["a1"]},
    ],
    "jenkins": {
        "url": "https://ci.example.com/",
        "admin_user": "admin",
        "admin_password": "JENKINS_ADMIN_PASSWORD",
        "api_user": "bot",
        "api_token": "JENKINS_API_TOKEN",
        "home": "/srv/mlci/jenkins_home",
        "system_message": "Hello",
        "library": {"version": "main", "path": "jenkins/library"},
    },
    "webhook": {
        "token": "MLCI_WEBHOOK_TOKEN",
        "frp": {"server": "frps.example.com", "token": "FRP_TOKEN", "custom_domain": "hooks.example.com"},
    },
    "portainer": {"bind": "127.0.0.1"},
    "build": {
        "base_image": "mlci/python:3.11",
        "registry": "registry.example.com/ml",
        "ca_bundle": "certs/ca.pem",
        "pip_index_url": "https://pypi.example.com/simple/",
    },
    "artifacts": {
        "default": "local",
        "stores": {
            "local": {"type": "local", "path": "/srv/a"},
            "s3": {
                "type": "s3",
                "bucket": "bkt",
                "prefix": "runs",
                "endpoint_url": "https://s3.example.com",
                "region": "eu-west-1",
                "access_key_id": "AWS_ACCESS_KEY_ID",
                "secret_access_key": "AWS_SECRET_ACCESS_KEY",
            },
            "hub": {
                "type": "huggingface",
                "repo": "acme/models",
                "token": "HF_TOKEN",
                "endpoint": "https://hf.example",
            },
        },
    },
    "notifications": {"slack": {"webhook": "SLACK_WEBHOOK_URL", "channel": "#ml"}},
}
PROJECTS = ["digits"]


def string_fields(data: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in string_fields(v, (*path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in string_fields(v, (*path, i))]
    return [path] if isinstance(data, str) else []


FIELDS = string_fields(BASE)


def with_value(path: tuple, value: str) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def render(data: dict[str, Any], projects: list[str] = PROJECTS) -> list[RenderedFile]:
    # Positions are not needed here (the golden error scenarios check them): skip the slow YAML pass.
    return plan_for(facts_from(YamlSource("mlci.yaml", data), projects), ROOT)


ROOT = Path(__file__).parent / "scenarios" / "no-frp"  # any root that is not mlci's own checkout
CLEAN = by_path(render(BASE))


def assert_inert(files: list[RenderedFile], value: str) -> None:
    found = False
    for f in files:
        clean = CLEAN[f.path]
        data = parse(f)
        if data is not None:
            assert shape(data) == shape(parse(clean)), f"{f.path}: structure changed"
            found |= any(isinstance(leaf, str) and value in leaf for leaf in leaves(data))
        elif f.path == "jenkins/Dockerfile" and value in f.content:
            words = shlex.split(_index_run(f))
            found |= any(value in word for word in words)
            assert len(words) == len(shlex.split(_index_run(clean))), "shell words added"
        else:
            assert f.content == clean.content or value not in f.content, f"{f.path}: value in an unparsed file"
    dsl, clean_dsl = job_dsl(files), job_dsl(list(CLEAN.values()))
    assert groovy_skeleton(dsl) == groovy_skeleton(clean_dsl), "Groovy code changed"
    found |= any(value in literal for literal in groovy_literals(dsl))
    assert found or not any(value in f.content for f in files), "value rendered but not found back intact"


def _index_run(f: RenderedFile) -> str:
    """The Dockerfile's pip install RUN instruction, continuation lines joined."""
    return " ".join(line.rstrip("\\") for line in f.content.splitlines() if "--index-url" in line)


@pytest.mark.parametrize("path", FIELDS, ids=format_path)
def test_injection_corpus_is_rejected_or_inert(path: tuple) -> None:
    original = _get(BASE, path)
    named = {format_path(path[:end]) for end in range(1, len(path) + 1)}  # the field or its parent
    for payload in CORPUS:
        for value in (payload, original + payload):
            try:
                files = render(with_value(path, value))
            except ConfigError as exc:
                assert any(f": {name}: " in str(exc) for name in named), str(exc)
                continue
            assert_inert(files, value)


@pytest.mark.parametrize("payload", CORPUS)
def test_project_directory_names_are_rejected_or_inert(payload: str) -> None:
    try:
        files = render(BASE, projects=["digits", f"p{payload}"])
    except ConfigError as exc:
        assert "invalid project directory name" in str(exc)
        return
    assert_inert(files, f"p{payload}")


def test_a_value_that_is_accepted_comes_back_verbatim() -> None:
    """The corpus test must be able to see accepted values: here `: #` in the system message."""
    files = render(with_value(("jenkins", "system_message"), "Hello: # world | & ; <x>"))
    assert parse(by_path(files)["jenkins/casc.yaml"])["jenkins"]["systemMessage"] == "Hello: # world | & ; <x>"
    url = "https://pypi.example.com/simple/?a=1&b=(2);c#d"
    files = render(with_value(("build", "pip_index_url"), url))
    assert_inert(files, url)
    assert shlex.quote(url) in by_path(files)["jenkins/Dockerfile"].content


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data
