"""The rendered files are what their consumers accept, and agree with each other.

Compose and workflows are checked against the compose-spec and GitHub-workflow JSON schemas that
check-jsonschema vendors (offline). No Jenkins can run here, so casc.yaml is cross-checked
structurally: credentials, labels, secrets, library path and the jobs the library expects.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from render_support import by_path, groovy_literals, job_dsl, parse, scenario_dirs

from mlci.render import RenderedFile, load_for_render, plan
from mlci.render.model import WEBHOOK_PATHS

SCENARIOS = scenario_dirs("ok")


@cache
def rendered(scenario: Path) -> dict[str, RenderedFile]:
    return by_path(plan(scenario))


@cache
def validator(name: str) -> Any:
    vendor = importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor"
    schema = json.loads((vendor / name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(schema: str, data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(data)]


ids = [p.name for p in SCENARIOS]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
def test_compose_file_is_valid_compose_spec(scenario: Path) -> None:
    assert schema_errors("compose-spec.json", parse(rendered(scenario)["compose/docker-compose.yml"])) == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
@pytest.mark.parametrize("workflow", ["ci.yml", "release-trigger.yml"])
def test_workflows_are_valid_github_workflows(scenario: Path, workflow: str) -> None:
    data = parse(rendered(scenario)[f".github/workflows/{workflow}"])
    assert schema_errors("github-workflows.json", data) == []


def test_the_schema_check_catches_a_broken_file() -> None:
    data = parse(rendered(SCENARIOS[0])["compose/docker-compose.yml"])
    data["services"]["jenkins"]["ports"] = "8080"
    assert schema_errors("compose-spec.json", data)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
def test_frpc_exposes_only_the_webhook_paths(scenario: Path) -> None:
    files = rendered(scenario)
    facts = load_for_render(scenario)
    services = parse(files["compose/docker-compose.yml"])["services"]
    if facts.manifest.webhook.frp is None:
        assert "compose/frpc.toml" not in files
        assert "frpc" not in services and "webhook-filter" not in services
        return
    frpc = parse(files["compose/frpc.toml"])
    assert frpc["auth"] == {"method": "token", "token": f"{{{{ .Envs.{facts.manifest.webhook.frp.token} }}}}"}
    assert [p["type"] for p in frpc["proxies"]] == ["http"]  # one proxy, no tcp/stcp side door
    (proxy,) = frpc["proxies"]
    assert proxy["locations"] == list(WEBHOOK_PATHS)
    assert proxy["customDomains"] == [facts.webhook_domain]
    # frpc reaches the webhook filter only, on a network Jenkins is not on; the filter reaches Jenkins.
    assert (proxy["localIP"], proxy["localPort"]) == ("webhook-filter", 8081)
    assert services["frpc"]["networks"] == ["webhook"]
    assert services["frpc"]["depends_on"] == ["webhook-filter"]
    assert "webhook" not in services["jenkins"].get("networks", ["default"])
    webhook_filter = services["webhook-filter"]
    assert webhook_filter["image"] == services["jenkins"]["image"]  # built once, never pulled
    argv = webhook_filter["entrypoint"]
    assert argv[:3] == ["/opt/mlci/bin/python", "-m", "mlci.webhook"]
    pairs = list(zip(argv[3::2], argv[4::2], strict=True))
    # the deploy route may name mlci.yaml's environments, each once
    assert [v for k, v in pairs if k == "--environment"] == sorted(facts.manifest.environments)
    options = {k: v for k, v in pairs if k != "--environment"}
    assert options == {
        "--listen": "0.0.0.0:8081",
        "--upstream": "jenkins:8080",
        "--host": facts.webhook_domain,
        "--token-file": f"/run/secrets/{facts.manifest.webhook.token}",
    }
    assert webhook_filter["secrets"] == [facts.manifest.webhook.token]
    assert webhook_filter["read_only"] is True and webhook_filter["cap_drop"] == ["ALL"]
    assert "ports" not in webhook_filter  # reachable only inside the stack
    allowed = {"name", "type", "localIP", "localPort", "customDomains", "locations"}
    assert set(proxy) == allowed  # nothing (e.g. subdomain, routeByHTTPUser) widens the route


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
def test_casc_credentials_labels_and_library_are_consistent(scenario: Path) -> None:
    files = rendered(scenario)
    casc = parse(files["jenkins/casc.yaml"])
    dsl = job_dsl(plan(scenario))
    defined = {
        next(iter(c.values()))["id"] for c in casc["credentials"]["system"]["domainCredentials"][0]["credentials"]
    }

    # every referenced credential id is defined
    library = casc["unclassified"]["globalLibraries"]["libraries"][0]
    referenced = {library["retriever"]["modernSCM"]["scm"]["git"].get("credentialsId")}
    referenced |= {n["permanent"]["launcher"]["ssh"]["credentialsId"] for n in casc["jenkins"].get("nodes", [])}
    referenced |= set(re.findall(r"(?:credentials|tokenCredentialId)\('([A-Z0-9_]+)'\)", dsl))
    referenced.discard(None)
    assert referenced <= defined

    # every label used has a node (or resource) carrying it
    node_labels = {"built-in": set(casc["jenkins"].get("labelString", "").split())}
    node_executors = {"built-in": casc["jenkins"]["numExecutors"]}
    for node in casc["jenkins"].get("nodes", []):
        node_labels[node["permanent"]["name"]] = set(node["permanent"]["labelString"].split())
        node_executors[node["permanent"]["name"]] = node["permanent"]["numExecutors"]
    resources = casc["unclassified"].get("lockableResourcesManager", {}).get("declaredResources", [])
    for res in resources:
        host = res["labels"].removeprefix("gpu@")
        assert any(host in labels for labels in node_labels.values()), res
        assert re.fullmatch(rf"{re.escape(host)}-gpu[0-9]+", res["name"])  # what the library's GpuLease parses
    # the library runs on node('mlci'): some node with executors carries it, and has MLCI_HOST
    builders = [n for n, labels in node_labels.items() if "mlci" in labels and node_executors[n] > 0]
    assert builders

    # the library path exists in the repository, and Job DSL creates the jobs the library documents
    assert (scenario / library["retriever"]["modernSCM"]["libraryPath"]).is_dir()
    literals = groovy_literals(dsl)
    facts = load_for_render(scenario)
    for job in ["mlci-release", "mlci-experiment", *(f"mlci-project-{p}" for p in facts.projects)]:
        assert f"pipelineJob('{job}')" in dsl
    # the experiment job: the parameters mlciExperiment reads, its own pipeline file from the repository
    assert {"REF", "PROJECTS", "EXPERIMENT", "OVERRIDES", "jenkins/experiment.Jenkinsfile"} <= set(literals)
    assert "textParam('OVERRIDES', ''" in dsl
    assert files["jenkins/experiment.Jenkinsfile"].content.endswith("@Library('mlci') _\nmlciExperiment()\n")
    for param in ["BASE_REF", "HEAD_REF", "PROJECTS", "FORCE"]:
        assert param in literals
    assert "$.head" in literals and "JSONPath" in literals
    if facts.projects:
        assert {"MLCI_PROJECT", "GPUS", "PUBLISH", "jenkins/project.Jenkinsfile"} <= set(literals)
        assert "jenkins/project.Jenkinsfile" in files


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
def test_casc_security_baseline(scenario: Path) -> None:
    casc = parse(rendered(scenario)["jenkins/casc.yaml"])["jenkins"]
    realm = casc["securityRealm"]["local"]
    assert realm["allowsSignup"] is False
    assert realm["users"][0]["password"] == "${JENKINS_ADMIN_PASSWORD}"
    entries = casc["authorizationStrategy"]["globalMatrix"]["entries"]
    names = [next(iter(e.values()))["name"] for e in entries]
    assert "anonymous" not in names and "authenticated" in names
    assert all(set(e) <= {"user", "group"} for e in entries)  # the current `entries` syntax, no ambiguous sids
    assert casc["crumbIssuer"] == {"standard": {"excludeClientIPFromCrumb": False}}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
def test_every_secret_jenkins_resolves_is_a_compose_secret(scenario: Path) -> None:
    files = rendered(scenario)
    wanted = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", files["jenkins/casc.yaml"].content))
    compose = parse(files["compose/docker-compose.yml"])
    assert set(compose["services"]["jenkins"]["secrets"]) == wanted
    generated = {"JENKINS_AGENT_SSH_KEY": "jenkins_agent_ssh_key"}  # made on the controller by Ansible
    for name in compose["secrets"]:
        assert compose["secrets"][name] == {"file": f"../secrets/{generated.get(name, name)}"}
    group_vars = parse(files["ansible/group_vars/all.yml"])
    assert {s["name"] for s in group_vars["mlci_secrets"]} == set(compose["secrets"]) - set(generated)
    assert all(set(s) == {"name", "service", "owner_uid"} for s in group_vars["mlci_secrets"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
def test_compose_runs_jenkins_with_docker_out_of_docker(scenario: Path) -> None:
    files = rendered(scenario)
    compose = parse(files["compose/docker-compose.yml"])
    jenkins = compose["services"]["jenkins"]
    home = load_for_render(scenario).manifest.jenkins.home
    assert f"{home}:{home}" in jenkins["volumes"] and jenkins["environment"]["JENKINS_HOME"] == home
    assert "/var/run/docker.sock:/var/run/docker.sock" in jenkins["volumes"]
    assert jenkins["group_add"][0].startswith("${DOCKER_GID:?")
    # The build context is jenkins/ alone, and its .dockerignore (read by compose v1, v2 and the SDK
    # alike) admits only what the image copies: never the Jenkins home, the secrets or the team's tree.
    assert jenkins["build"]["context"] == "../jenkins" and jenkins["build"]["dockerfile"] == "Dockerfile"
    stack_files = parse(files["ansible/group_vars/all.yml"])["mlci_stack_files"]
    assert {"jenkins/Dockerfile", "jenkins/.dockerignore", "jenkins/casc.yaml", "compose/docker-compose.yml"} <= set(
        stack_files
    )
    assert not any(f in stack_files for f in ("pyproject.toml", "README.md", "mlci/"))
    assert "jenkins/Dockerfile.dockerignore" not in files
    ignore = files["jenkins/.dockerignore"].content.splitlines()
    assert ignore[1] == "*" and {"!plugins.txt", "!casc.yaml"} <= set(ignore[2:])
    assert all(line.startswith("!") and "/" not in line for line in ignore[2:])
    assert jenkins["environment"]["PLUGINS_FORCE_UPGRADE"] == "true"
    assert jenkins["restart"] == "unless-stopped" and "healthcheck" in jenkins
    built = {s.get("image") for s in compose["services"].values() if "build" in s}
    for service in compose["services"].values():
        image = service.get("image", "")
        built_here = image == jenkins["image"]  # the webhook filter runs from the image built for jenkins
        pinned = re.search(r":[0-9][\w.-]*$|:v[0-9][\w.-]*$", image)
        assert "build" in service or built_here or image in built or pinned, image


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
def test_inventory_matches_the_manifest(scenario: Path) -> None:
    facts = load_for_render(scenario)
    inventory = parse(rendered(scenario)["ansible/inventory.yml"])["all"]
    assert list(inventory["hosts"]) == [h.name for h in facts.manifest.hosts]
    for host in facts.manifest.hosts:
        assert inventory["hosts"][host.name]["ansible_host"] == host.address
    groups = inventory["children"]
    controllers = {facts.controller.name} if facts.controller else set()
    assert set(groups["mlci_controllers"]["hosts"]) == controllers
    assert set(groups["mlci_agents"]["hosts"]) == {h.name for h in facts.agents}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=ids)
def test_plugins_are_pinned_and_dockerfile_uses_them(scenario: Path) -> None:
    files = rendered(scenario)
    plugins = [line for line in files["jenkins/plugins.txt"].content.splitlines() if not line.startswith("#")]
    assert plugins and all(re.fullmatch(r"[a-z0-9-]+:[0-9][\w.-]*", line) for line in plugins)
    ids = {line.split(":")[0] for line in plugins}
    casc = files["jenkins/casc.yaml"].content
    assert ("ssh-slaves" in ids) == ("launcher:" in casc)  # only what the config uses
    assert "lockable-resources" in ids  # the library calls `lock`, with or without GPU hosts
    dockerfile = files["jenkins/Dockerfile"].content
    assert re.search(r"^ARG JENKINS_IMAGE=jenkins/jenkins:[0-9.]+-lts-jdk17$", dockerfile, re.M)
    assert re.search(r"^FROM \$\{JENKINS_IMAGE\}$", dockerfile, re.M)
    assert "RUN sh /usr/local/share/mlci/install-plugins.sh" in dockerfile and "runSetupWizard=false" in dockerfile
    installer = files["jenkins/install-plugins.sh"].content
    assert 'set -- --latest false --verbose --plugin-file "$PLUGIN_FILE"' in installer  # pinned versions only
    run_lines = [line.rstrip("\\") for line in dockerfile.splitlines() if "--index-url" in line]
    for line in run_lines:  # the index URL is one shell word, whatever it contains
        words = shlex.split(line)
        m = load_for_render(scenario).manifest
        index = (m.mlci.index_url if m.mlci and m.mlci.index_url else None) or m.build.pip_index_url
        assert words[words.index("--index-url") + 1] == index
