"""One webhook token triggers every job whose Generic Webhook Trigger names it, so the rendered
triggers' filters decide which job a body starts. This runs the rendered filters through a model of
GWT's own evaluation (jenkinsci/generic-webhook-trigger-plugin): each genericVariable is read by
JSONPath, an absent or empty value becomes its defaultValue (resolvers/PostContentParameterResolver),
its regexpFilter characters are removed, the variables are put into regexpFilterText longest name
first (Renderer.renderText), and the job starts when regexpFilterExpression is *found* in the result,
or when both are empty (Renderer.isMatching). The expressions used are the same in Java and Python."""

from __future__ import annotations

import json
import re

import pytest
from render_support import SCENARIOS, groovy_literals, job_dsl

from mlci.render import plan

DEPLOY = {"deploy": {"project": "digits", "env": "prod", "version": "v3"}}


def triggers(dsl: str) -> dict[str, dict]:
    """job name → its generic trigger: [(key, path, regexpFilter, default)], filter text, expression."""
    found = {}
    for block in re.split(r"\n(?=pipelineJob\()", dsl):
        if "genericTrigger {" not in block:
            continue
        name = groovy_literals(block.split("\n", 1)[0])[0]
        variables = []
        for v in re.findall(r"genericVariable \{(.*?)\}", block, re.S):
            key, path, kind, strip, default = groovy_literals(v)
            assert kind == "JSONPath"
            variables.append((key, path, strip, default))
        [text] = groovy_literals(re.search(r"regexpFilterText\((.*)\)", block).group(1))
        [expression] = groovy_literals(re.search(r"regexpFilterExpression\((.*)\)", block).group(1))
        found[name] = {"variables": variables, "text": text, "expression": expression}
    return found


def json_path(data: object, path: str) -> object:
    assert re.fullmatch(r"\$(\.[a-z_]+)+", path), path  # the only JSONPath form mlci renders
    for key in path.split(".")[1:]:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def started(trigger: dict, body: dict) -> dict[str, str] | None:
    """The variables GWT resolves for `body`, when the trigger's filter lets it start the job; else None."""
    resolved = {}
    for key, path, strip, default in trigger["variables"]:
        value = json_path(body, path)
        text = "" if value is None or isinstance(value, dict | list) else str(value)
        text = re.sub(strip, "", text) if strip else text
        resolved[key] = text or default
    rendered = trigger["text"]
    for key in sorted(resolved, key=lambda k: (-len(k), k)):
        rendered = rendered.replace("$" + key, resolved[key]).replace("${" + key + "}", resolved[key])
    if not rendered and not trigger["expression"]:
        return resolved
    return resolved if re.search(trigger["expression"], rendered) else None


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict]:
    return triggers(job_dsl(plan(SCENARIOS / "environments")))


def which(rendered: dict[str, dict], body: dict) -> dict[str, dict[str, str]]:
    return {job: got for job, trigger in rendered.items() if (got := started(trigger, body)) is not None}


def test_only_the_release_and_deploy_jobs_listen(rendered):
    assert sorted(rendered) == ["mlci-deploy", "mlci-release"]


def test_the_release_trigger_s_body_starts_the_release_only(rendered):
    body = {"head": "a" * 40, "base": "b" * 40, "pr": "7"}
    got = which(rendered, body)
    assert list(got) == ["mlci-release"]
    assert got["mlci-release"]["HEAD_REF"] == "a" * 40 and got["mlci-release"]["PR_NUMBER"] == "7"
    assert list(which(rendered, {})) == ["mlci-release"]  # an empty release request, as before


def test_the_filter_s_deploy_body_starts_the_deploy_only(rendered):
    got = which(rendered, json.loads(json.dumps(DEPLOY)))
    assert got == {"mlci-deploy": {"PROJECT": "digits", "ENV": "prod", "VERSION": "v3"}}
    current = which(rendered, {"deploy": {"project": "digits", "env": "qa", "version": ""}})
    assert current == {"mlci-deploy": {"PROJECT": "digits", "ENV": "qa", "VERSION": ""}}


@pytest.mark.parametrize(
    "deploy",
    [
        {"project": "digits;id", "env": "prod"},
        {"project": "digits", "env": "pro d"},
        {"project": "digits"},
        {"env": "prod"},
        {"project": "Digits", "env": "prod"},
    ],
)
def test_a_malformed_deploy_request_sent_past_the_filter_starts_nothing(rendered, deploy):
    """Sent straight to Jenkins with the token (the filter refuses these): neither a deploy nor a release
    of whatever HEAD is — except that a request without a project is not a deploy request at all."""
    got = which(rendered, {"deploy": deploy})
    assert "mlci-deploy" not in got
    assert ("mlci-release" in got) == ("project" not in deploy)


def test_the_deploy_values_are_never_stripped_into_other_names(rendered):
    """A stripped "pro d" would be prod: the deploy job's variables keep every character."""
    assert all(strip == "" for _, _, strip, _ in rendered["mlci-deploy"]["variables"])


def test_without_environments_nothing_listens_for_deploys():
    dsl = job_dsl(plan(SCENARIOS / "one-host"))
    assert sorted(triggers(dsl)) == ["mlci-release"]
    assert "pipelineJob('mlci-deploy')" not in dsl and "pipelineJob('mlci-promote')" not in dsl
    assert "['mlci-promote', 'mlci-deploy'].contains(job.name)" in dsl  # left-over jobs are removed
