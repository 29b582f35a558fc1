"""`environments:` in mlci.yaml: where a published model version is promoted to (qa, prod, ...).

Resource names follow one pattern, documented in the README ("Environments and promotion"):
the service or container an environment runs a project as is `{env}-{project}`, and a version
promoted to an environment lies at `<store>/<project>/envs/<env>/` of the environment's store.
Names are checked here; that `store` and `hosts` exist is checked against the whole manifest by
`environment_problems` (the loader turns each into a located error with "did you mean").
"""

from __future__ import annotations

import difflib
from typing import Annotated

from pydantic import Field

from mlci.manifest.fields import LABEL_RE, NAME_RE, POSIX_USER_RE, Duration, Name, SecretName, Strict

# Environment names appear in paths, Jenkins parameters and service names: like project names.
EnvName = Annotated[str, Field(pattern=NAME_RE)]
HostRef = Annotated[str, Field(pattern=LABEL_RE)]


def resource_name(env: str, project: str) -> str:
    """The name of `project`'s deployed service or container in `env`."""
    return f"{env}-{project}"


def promoted_path(env: str, project: str) -> str:
    """Where `project`'s promoted versions lie in the environment's store, relative to the store."""
    return f"{project}/envs/{env}/"


class Environment(Strict):
    """A target a published model version is promoted to with `mlci promote PROJECT VERSION --to ENV`."""

    store: Name = Field(description="the artifacts.stores entry the promoted version is copied into")
    hosts: list[HostRef] = Field(
        default_factory=list, description="host names from hosts:, or host labels, that serve this environment"
    )
    secrets: list[SecretName] = Field(
        default_factory=list, description="secret names the environment's deployment needs (names, never values)"
    )
    approval: bool = Field(
        False, description="promote only from Jenkins' mlci-promote job, after a person approved it there"
    )
    approvers: list[Annotated[str, Field(pattern=POSIX_USER_RE)]] = Field(
        default_factory=list, description="Jenkins users who may approve a promotion here (default: the admin)"
    )
    after: EnvName | None = Field(
        None,
        description="an environment a version must be current in, with a passing integration test there,"
        " before it may be promoted here",
    )
    approval_timeout: Duration = Field(
        86400, description="how long mlci-promote waits for the approval before it gives up (default 24h)"
    )


Environments = dict[EnvName, Environment]

# (path inside mlci.yaml, message) — the loader locates each one
EnvProblem = tuple[tuple[str | int, ...], str]


def _unknown(kind: str, value: str, known: list[str], fix: str) -> str:
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
    if close:
        return f"{kind} '{value}' is not defined — did you mean '{close[0]}'?"
    return f"{kind} '{value}' is not defined — {fix}: {', '.join(sorted(known)) or 'none defined'}"


def environment_problems(
    environments: Environments,
    stores: list[str],
    host_names: list[str],
    host_labels: list[str],
    jenkins_users: list[str],
) -> list[EnvProblem]:
    """Every store, host, approver or `after` environment an environment names that the manifest does
    not define, and every `after` chain that comes back to where it started."""
    problems: list[EnvProblem] = []
    for name, env in environments.items():
        if env.after is not None and env.after not in environments:
            message = _unknown("environment", env.after, list(environments), "use one of environments")
            problems.append((("environments", name, "after"), message))
        if env.store not in stores:
            message = _unknown("store", env.store, stores, "use one of artifacts.stores")
            problems.append((("environments", name, "store"), message))
        for i, host in enumerate(env.hosts):
            if host not in host_names and host not in host_labels:
                message = _unknown("host or label", host, [*host_names, *host_labels], "use a host name or label")
                problems.append((("environments", name, "hosts", i), message))
        for i, user in enumerate(env.approvers):
            if user not in jenkins_users:
                message = _unknown("approver", user, jenkins_users, "add them to jenkins.approvers, or use one of")
                problems.append((("environments", name, "approvers", i), message))
    problems.extend(_after_cycles(environments))
    return problems


def _after_cycles(environments: Environments) -> list[EnvProblem]:
    """An environment `after` itself, or in a ring of `after`s: nothing could ever be promoted there."""
    problems: list[EnvProblem] = []
    for name, env in environments.items():
        chain, step = [name], env.after
        while step is not None and step in environments and step not in chain:
            chain.append(step)
            step = environments[step].after
        if step == name:
            ring = " → ".join([*chain, name])
            why = "itself" if len(chain) == 1 else f"a cycle ({ring})"
            message = f"environment '{name}' comes after {why}, so nothing could ever be promoted to it"
            problems.append((("environments", name, "after"), message + " — remove one `after`"))
    return problems


def unknown_environment_hint(environments: Environments, name: str) -> str:
    """For "no environment NAME": the closest name, else every environment there is."""
    known = sorted(environments)
    close = difflib.get_close_matches(name, known, n=1)
    return f"did you mean '{close[0]}'?" if close else f"environments in mlci.yaml: {', '.join(known) or 'none'}"
