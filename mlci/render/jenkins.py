"""jenkins/casc.yaml, jenkins/plugins.txt and jenkins/Dockerfile: a controller that starts configured."""

from __future__ import annotations

import shlex
from typing import Any

from mlci.render import pins
from mlci.render.distribution import controller_extras, distribution
from mlci.render.model import (
    AGENT_SSH_KEY,
    AGENT_USER,
    AGENT_WORKDIR,
    BUILD_LABEL,
    BUILT_IN_HOST,
    CASC_PATH,
    DEPLOY_JENKINSFILE,
    DEPLOY_JOB,
    EXPERIMENT_JENKINSFILE,
    EXPERIMENT_JOB,
    PROJECT_JENKINSFILE,
    PROMOTE_JENKINSFILE,
    PROMOTE_JOB,
    RELEASE_JOB,
    Facts,
    gpu_label,
    gpu_resource,
    project_job,
)
from mlci.render.syntax import HEADER, SecretRef, dump_yaml, escape_strings, jcasc_escape
from mlci.render.templating import render_template

# Read-only users may see jobs and builds; only the admin configures. No anonymous entry at all.
ADMIN_PERMISSIONS = ["Overall/Administer"]
API_PERMISSIONS = ["Overall/Read", "Job/Build", "Job/Cancel", "Job/Read"]
AUTHENTICATED_PERMISSIONS = ["Overall/Read", "Job/Read"]
# Approvers answer `input` as named submitters: pipeline-input-step's canSettle accepts a submitter
# without any job permission (Job/Build is checked only for an input without submitter); they only
# need to see the build (jenkinsci/pipeline-input-step-plugin InputStepExecution#canSettle).
APPROVER_PERMISSIONS = ["Overall/Read", "Job/Read"]

# -DSoftKillWaitSeconds on the controller and the agents. On abort Jenkins SIGTERMs every process of
# the `sh` step and waits up to this long per process tree for them to exit, but never SIGKILLs them,
# and stops waiting after 30 s in all (see jenkins/library/README.md). mlci exits well within it
# (its containers' own SIGTERM grace, then the final record); a hung mlci is cleaned up by the library.
SOFT_KILL_WAIT_S = 30

# GWT variables: (parameter, JSONPath in the payload, characters removed from the value).
WEBHOOK_VARIABLES = [
    ("HEAD_REF", "$.head", "[^0-9A-Za-z._/-]"),
    ("BASE_REF", "$.base", "[^0-9A-Za-z._/-]"),
    ("PR_NUMBER", "$.pr", "[^0-9]"),
]
# One token triggers every job whose genericTrigger names it, so each job's filter picks its bodies
# (GWT's Renderer.isMatching: the expression is `find`-matched against the text with the variables
# put in; a variable the body lacks is its defaultValue ''). The release job takes every body without
# a deploy request, mlci-deploy only a deploy request naming a project and an environment: no body
# starts both. The deploy values are not stripped of characters (a stripped "pro d" would deploy to
# prod): the filter and the library refuse anything but a name.
RELEASE_TRIGGER = {
    "variables": [*WEBHOOK_VARIABLES, ("DEPLOY_PROJECT", "$.deploy.project", "")],
    "cause": "Release PR merged",
    "filter_text": "$DEPLOY_PROJECT",
    "filter_expression": "^$",
}
DEPLOY_TRIGGER = {
    "variables": [
        ("PROJECT", "$.deploy.project", ""),
        ("ENV", "$.deploy.env", ""),
        ("VERSION", "$.deploy.version", ""),
    ],
    "cause": "Deploy requested through the webhook",
    "filter_text": "$PROJECT@$ENV",
    "filter_expression": "^[a-z0-9][a-z0-9-]{0,62}@[a-z0-9][a-z0-9-]{0,62}$",
}


def plugin_ids(facts: Facts) -> list[str]:
    """Only the plugins the rendered configuration uses."""
    wanted = set(pins.PLUGINS) - {"ssh-credentials", "ssh-slaves"}
    if facts.agents:
        wanted |= {"ssh-credentials", "ssh-slaves"}
    if any(c.kind == "sshKey" for c in facts.credentials):
        wanted.add("ssh-credentials")  # basicSSHUserPrivateKey (agents' key, or the repository's)
    # lockable-resources stays even without GPU hosts: the library's steps call `lock`, and a
    # pipeline that names a missing step fails to load.
    return sorted(wanted)


def render_plugins(facts: Facts) -> str:
    lines = [f"# {HEADER}"]
    lines += [f"{pid}:{pins.PLUGINS[pid][0]}" for pid in plugin_ids(facts)]
    return "\n".join(lines) + "\n"


def render_project_jenkinsfile(facts: Facts) -> str:
    return render_template("project.Jenkinsfile.j2", header=HEADER)


def render_experiment_jenkinsfile(facts: Facts) -> str:
    return render_template("experiment.Jenkinsfile.j2", header=HEADER)


def render_promote_jenkinsfile(facts: Facts) -> str:
    return render_template("promote.Jenkinsfile.j2", header=HEADER)


def render_deploy_jenkinsfile(facts: Facts) -> str:
    return render_template("deploy.Jenkinsfile.j2", header=HEADER)


# ---- controller image: its own build context, the pinned mlci, CA bundle, base images as args

CA_BUNDLE_FILE = "ca-bundle.crt"  # jenkins/ca-bundle.crt: build.ca_bundle, copied there by Ansible
INSTALL_PLUGINS = "install-plugins.sh"  # jenkins/install-plugins.sh, run by the Dockerfile
PLUGIN_BUNDLE_DIR = "plugin-bundle"  # jenkins/plugin-bundle/: jenkins.plugins.bundle, copied there by Ansible


def render_dockerfile(facts: Facts) -> str:
    m = facts.manifest
    dist = distribution(m)
    extras = controller_extras(m)
    wheel = dist.wheel if dist.from_checkout else None
    requirement = f"/tmp/{wheel}[{','.join(extras)}]" if wheel else dist.requirement(extras)
    pip_args = shlex.join([*dist.index_args(), requirement])
    return render_template(
        "Dockerfile.j2",
        header=HEADER,
        version=dist.version,
        jenkins_image=pins.JENKINS_IMAGE,
        docker_cli_image=pins.DOCKER_CLI_IMAGE,
        pip_args=pip_args,
        wheel=wheel,
        index_description=f"{dist.index_url}" if dist.index_url else "the default package index",
        ca_bundle=bool(m.build.ca_bundle),
        casc_path=CASC_PATH,
        soft_kill_wait_s=SOFT_KILL_WAIT_S,
        install_plugins=INSTALL_PLUGINS,
        plugin_bundle=PLUGIN_BUNDLE_DIR if m.jenkins.plugins.bundle else None,
    )


def render_install_plugins(facts: Facts) -> str:
    """How the image gets its plugins: jenkins-plugin-cli with the mirror and the proxy build arguments
    it would otherwise ignore, or (air-gapped) a check of the bundle the Dockerfile copied in."""
    plugins = facts.manifest.jenkins.plugins

    def quoted(url: str | None) -> str | None:
        return shlex.quote(url) if url else None

    return render_template(
        "install-plugins.sh.j2",
        header=HEADER,
        bundle=bool(plugins.bundle),
        jenkins_image=pins.JENKINS_IMAGE,
        update_center=quoted(plugins.update_center),
        plugin_info=quoted(plugins.plugin_info),
        mirror=quoted(plugins.mirror),
    )


def render_dockerignore(facts: Facts) -> str:
    """The build context is jenkins/ alone: admit only what the Dockerfile copies. A `.dockerignore`
    at the context root is read by every builder (compose v1 ignores <Dockerfile>.dockerignore)."""
    dist = distribution(facts.manifest)
    keep = ["plugins.txt", "casc.yaml", INSTALL_PLUGINS] + ([CA_BUNDLE_FILE] if facts.manifest.build.ca_bundle else [])
    keep += [PLUGIN_BUNDLE_DIR] if facts.manifest.jenkins.plugins.bundle else []
    keep += [dist.wheel] if dist.from_checkout else []
    lines = [f"# {HEADER}", "*", *(f"!{path}" for path in keep)]
    return "\n".join(lines) + "\n"


def render_casc(facts: Facts) -> str:
    m = facts.manifest
    jenkins: dict[str, Any] = {
        "systemMessage": m.jenkins.system_message,
        # With hosts, the built-in node runs no build: builds on it would die with the controller's
        # container (a recreate SIGKILLs them, their stage containers keep the GPUs) and could read
        # $JENKINS_HOME/secrets. EXCLUSIVE too, so no label expression can land there.
        "numExecutors": m.jenkins.executors if facts.controller_runs_builds else 0,
        "mode": "NORMAL" if facts.controller_runs_builds else "EXCLUSIVE",
    }
    if facts.controller_runs_builds:  # no hosts declared: a stack started by hand builds on the controller
        jenkins["labelString"] = f"{BUILD_LABEL} docker"
        jenkins["nodeProperties"] = [_host_env(facts, BUILT_IN_HOST)]
    elif facts.controller_is_agent:  # its host's name belongs to its SSH agent (node('<host>') goes there)
        jenkins["labelString"] = ""
    elif facts.controller:
        jenkins["labelString"] = facts.controller.name
    jenkins["securityRealm"] = {
        "local": {
            "allowsSignup": False,
            "users": [{"id": m.jenkins.admin_user, "password": SecretRef(f"${{{m.jenkins.admin_password}}}")}]
            + [{"id": a.user, "password": SecretRef(f"${{{a.password}}}")} for a in m.jenkins.approvers],
        }
    }
    jenkins["authorizationStrategy"] = {"globalMatrix": {"entries": _matrix_entries(facts)}}
    jenkins["crumbIssuer"] = {"standard": {"excludeClientIPFromCrumb": False}}
    jenkins["markupFormatter"] = "plainText"
    # No `remotingSecurity`: agent-to-controller security is always on in Jenkins 2.326+, and JCasC's
    # remotingSecurity only calls the deprecated AdminWhitelistRule#setMasterKillSwitch, which does
    # nothing but log a stack trace (jenkinsci/jenkins core/src/main/java/jenkins/security/s2m/AdminWhitelistRule.java).
    if facts.agents:
        jenkins["nodes"] = [_ssh_node(facts, host) for host in facts.agents]

    unclassified: dict[str, Any] = {}
    if m.jenkins.url:
        unclassified["location"] = {"url": m.jenkins.url}
    unclassified["globalLibraries"] = {"libraries": [_library(facts)]}
    if facts.gpu_hosts():
        unclassified["lockableResourcesManager"] = {"declaredResources": _gpu_resources(facts)}

    casc: dict[str, Any] = {
        "jenkins": jenkins,
        "credentials": {"system": {"domainCredentials": [{"credentials": _credentials(facts)}]}},
        "unclassified": unclassified,
        "jobs": [{"script": _job_dsl(facts)}],
    }
    security = _git_host_keys(facts)
    if security:
        casc["security"] = security
    # JCasC substitutes ${...} everywhere; only our secret placeholders may reach it.
    return dump_yaml(escape_strings(casc, jcasc_escape))


def _matrix_entries(facts: Facts) -> list[dict[str, Any]]:
    j = facts.manifest.jenkins
    entries = [{"user": {"name": j.admin_user, "permissions": ADMIN_PERMISSIONS}}]
    if j.api_user != j.admin_user:
        entries.append({"user": {"name": j.api_user, "permissions": API_PERMISSIONS}})
    for approver in j.approvers:
        if approver.user != j.api_user:
            entries.append({"user": {"name": approver.user, "permissions": APPROVER_PERMISSIONS}})
    entries.append({"group": {"name": "authenticated", "permissions": AUTHENTICATED_PERMISSIONS}})
    return entries


def _host_env(facts: Facts, host: str) -> dict[str, Any]:
    """MLCI_HOST on every node: the library locks the resources labelled gpu@<MLCI_HOST>; MLCI_RUNS_DIR:
    run records live on the host (not in the workspace), where `mlci status` and the library find them."""
    env = [{"key": "MLCI_HOST", "value": host}, {"key": "MLCI_RUNS_DIR", "value": facts.manifest.jenkins.runs_dir}]
    return {"envVars": {"env": env}}


def _ssh_node(facts: Facts, host: Any) -> dict[str, Any]:
    return {
        "permanent": {
            "name": host.name,
            "remoteFS": AGENT_WORKDIR,
            "numExecutors": max(1, facts.manifest.jenkins.executors),
            "labelString": " ".join(facts.node_labels(host)),
            "mode": "NORMAL",
            "retentionStrategy": "always",
            "nodeProperties": [_host_env(facts, host.name)],
            "launcher": {
                "ssh": {
                    "host": facts.ssh_address(host),
                    "port": host.ssh_port,
                    "credentialsId": AGENT_SSH_KEY,
                    # as on the controller: time after SIGTERM for mlci to write its Cancelled record
                    "jvmOptions": "-DSoftKillWaitSeconds=30",
                    # Trust the host key on first connection, then pin it (no manual step).
                    "sshHostKeyVerificationStrategy": {
                        "manuallyTrustedKeyVerificationStrategy": {"requireInitialManualTrust": False}
                    },
                }
            },
        }
    }


def _credentials(facts: Facts) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for cred in facts.credentials:
        secret = SecretRef(f"${{{cred.id}}}")
        base = {"scope": "GLOBAL", "id": cred.id, "description": cred.description}
        if cred.kind == "usernamePassword":
            out.append({"usernamePassword": {**base, "username": cred.username, "password": secret}})
        elif cred.kind == "string":
            out.append({"string": {**base, "secret": secret}})
        else:
            out.append(
                {
                    "basicSSHUserPrivateKey": {
                        **base,
                        # The agents' key is the controller's alone; the repository key serves checkouts.
                        "scope": "SYSTEM" if cred.id == AGENT_SSH_KEY else "GLOBAL",
                        "username": cred.username or AGENT_USER,
                        "privateKeySource": {"directEntry": {"privateKey": secret}},
                    }
                }
            )
    return out


def _library(facts: Facts) -> dict[str, Any]:
    m = facts.manifest
    assert m.repository is not None  # checked before rendering
    git: dict[str, Any] = {"remote": m.repository.url}
    if facts.git_credentials:
        git["credentialsId"] = facts.git_credentials
    return {
        "name": "mlci",
        "defaultVersion": m.jenkins.library.version,
        "implicit": False,
        "allowVersionOverride": False,
        "includeInChangesets": False,
        "retriever": {"modernSCM": {"libraryPath": m.jenkins.library.path.rstrip("/") + "/", "scm": {"git": git}}},
    }


# ---- the Git server's host key, for SSH repository URLs


def _git_host_keys(facts: Facts) -> dict[str, Any] | None:
    repo = facts.manifest.repository
    if repo is None or repo.host_key_policy is None:
        return None
    if repo.host_key_policy == "known_hosts":
        strategy: dict[str, Any] = {
            "manuallyProvidedKeyVerificationStrategy": {"approvedHostKeys": SecretRef(f"${{{repo.known_hosts}}}")}
        }
    else:
        strategy = "acceptFirstConnectionStrategy"  # type: ignore[assignment]
    return {"gitHostKeyVerificationConfiguration": {"sshHostKeyVerificationStrategy": strategy}}


def _gpu_resources(facts: Facts) -> list[dict[str, Any]]:
    return [
        {
            "name": gpu_resource(host.name, index),
            "description": f"GPU {index} on {host.name}",
            "labels": gpu_label(host.name),
        }
        for host in facts.gpu_hosts()
        for index in range(host.gpus)
    ]


def _job_dsl(facts: Facts) -> str:
    m = facts.manifest
    assert m.repository is not None
    projects = [{"name": name, "job": project_job(name)} for name in facts.projects]
    return render_template(
        "jobs.groovy.j2",
        header=HEADER,
        release_job=RELEASE_JOB,
        release_trigger=RELEASE_TRIGGER,
        webhook_token=m.webhook.token,
        repo_url=m.repository.url,
        repo_credentials=facts.git_credentials,
        release_branch=m.repository.release_branch or m.repository.branch,
        branch=m.repository.branch,
        project_jenkinsfile=PROJECT_JENKINSFILE,
        experiment_job=EXPERIMENT_JOB,
        experiment_jenkinsfile=EXPERIMENT_JENKINSFILE,
        environments=list(m.environments),  # mlci.yaml's order: the first is the form's default
        promote_job=PROMOTE_JOB,
        promote_jenkinsfile=PROMOTE_JENKINSFILE,
        deploy_job=DEPLOY_JOB,
        deploy_jenkinsfile=DEPLOY_JENKINSFILE,
        deploy_trigger=DEPLOY_TRIGGER,
        projects=projects,
        project_job_prefix=project_job(""),
        discard=_build_discarder(facts),
    )


def _build_discarder(facts: Facts) -> dict[str, int]:
    """jenkins.build_discarder: every job keeps at most `builds` builds, none older than `days`."""
    keep = facts.manifest.jenkins.build_discarder
    return {"days": int(keep.days), "builds": int(keep.builds)}
