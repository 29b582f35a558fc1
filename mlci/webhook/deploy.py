"""The body half of the filter's rule: every body must be strict JSON, and one whose top-level object has
the key `deploy` is the deploy route, checked field by field and rewritten. Pure functions.

The deploy route starts Jenkins' `mlci-deploy` job through the same door, token and Generic Webhook
Trigger as releases, so a chat command or a button can deploy:

    {"deploy": {"project": "digits", "env": "prod", "version": "v3"}}     (version optional: the current one)

GWT reads the body with its own (more lenient) JSON parser, so the filter must judge the body as GWT
will see it: a body Python's strict parser refuses, or one with a key twice, is refused outright
rather than forwarded for GWT to interpret differently. A deploy body is never forwarded as sent: the
filter writes a canonical one from the checked values. Every other JSON body (the release trigger's
`{"head", "base", "pr"}`) goes to Jenkins byte for byte, as before; the rendered jobs' GWT filters
make `mlci-release` ignore deploy bodies and `mlci-deploy` ignore everything else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlci.webhook.rule import Refusal

DEPLOY_KEY = "deploy"
DEPLOY_FIELDS = ("project", "env", "version")
# Copies of mlci's rules (the filter imports only the standard library and this package):
# mlci.contract.PROJECT_PATTERN, mlci.manifest.fields.NAME_RE (environment names) and
# mlci.record.parts.VERSION_PATTERN; tests/webhook/test_deploy_route.py checks that they agree.
PROJECT_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
ENV_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
VERSION_PATTERN = r"v[1-9][0-9]{0,17}"


@dataclass(frozen=True)
class Forward:
    body: bytes  # what Jenkins gets
    note: str  # for the log line: the route, and for a deploy what (checked names only)


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Duplicate("a key appears twice in one object")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_strict(body: bytes) -> Any:
    """The body as strict JSON (UTF-8, no NaN/Infinity, no repeated key); ValueError otherwise."""
    try:
        text = body.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None


def judge_body(body: bytes, environments: tuple[str, ...]) -> Forward | Refusal:
    """What Jenkins gets for this body: the body itself, a canonical deploy body, or a refusal."""
    try:
        data = parse_strict(body)
    except _Duplicate:
        return Refusal(400, "the body repeats a key; send each key once")
    except ValueError:
        return Refusal(400, "the body is not strict JSON (UTF-8, no NaN or Infinity)")
    if not isinstance(data, dict) or DEPLOY_KEY not in data:
        return Forward(body, "forwarded")
    return deploy_body(data, environments)


def deploy_body(data: dict[str, Any], environments: tuple[str, ...]) -> Forward | Refusal:
    """`{"deploy": {"project", "env"[, "version"]}}` checked as mlci checks each name; 422 says which field."""
    if set(data) != {DEPLOY_KEY}:
        return Refusal(422, 'a deploy request is {"deploy": {...}} with no other key')
    request = data[DEPLOY_KEY]
    if not isinstance(request, dict):
        return Refusal(422, 'deploy must be an object: {"project": ..., "env": ..., "version": ...}')
    unknown = sorted(set(request) - set(DEPLOY_FIELDS))
    if unknown:
        return Refusal(422, f"deploy takes only {', '.join(DEPLOY_FIELDS)}")
    project, env, version = (request.get(key) for key in DEPLOY_FIELDS)
    if not isinstance(project, str) or not re.fullmatch(PROJECT_PATTERN, project):
        return Refusal(422, "deploy.project must be a project name (lowercase letters, digits and dashes)")
    if not environments:
        return Refusal(422, "mlci.yaml declares no environments: there is nothing to deploy to")
    if not isinstance(env, str) or not re.fullmatch(ENV_PATTERN, env) or env not in environments:
        return Refusal(422, f"deploy.env must be one of the environments in mlci.yaml: {', '.join(environments)}")
    if version is None or version == "":
        version = ""
    elif not isinstance(version, str) or not re.fullmatch(VERSION_PATTERN, version):
        return Refusal(422, "deploy.version must be a model version (v1, v2, ...) or left out for the current one")
    canonical = {DEPLOY_KEY: {"project": project, "env": env, "version": version}}
    body = json.dumps(canonical, separators=(",", ":"), sort_keys=True).encode("ascii")
    return Forward(body, f"forwarded deploy of {project} {version or '(current)'} to {env}")
