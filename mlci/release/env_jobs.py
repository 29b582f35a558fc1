"""The parameters of Jenkins' mlci-promote and mlci-deploy jobs, checked as the jobs and mlci check
them, so that `mlci trigger --promote/--deploy` refuses a typo before Jenkins is contacted."""

from __future__ import annotations

import re

from mlci.errors import UsageError
from mlci.manifest.schema import Manifest
from mlci.publish.promotion import check_project, environment
from mlci.record.parts import VERSION_PATTERN

PROMOTE_JOB = "mlci-promote"
PROMOTE_PARAMS = ("PROJECT", "VERSION", "ENV")
DEPLOY_JOB = "mlci-deploy"
DEPLOY_PARAMS = ("PROJECT", "VERSION", "ENV")


def check_version(version: str) -> str:
    if not re.fullmatch(VERSION_PATTERN, version):
        raise UsageError(f"{version[:64]!r} is not a model version", hint="use v1, v2, ... (see `mlci versions`)")
    return version


def promote_params(manifest: Manifest, project: str, version: str, env: str) -> dict[str, str]:
    check_project(project)
    check_version(version)
    environment(manifest, env)  # a name mlci.yaml declares (with "did you mean")
    return {"PROJECT": project, "VERSION": version, "ENV": env}


def deploy_params(manifest: Manifest, project: str, env: str, version: str | None) -> dict[str, str]:
    """VERSION empty: the job deploys the version current in the environment."""
    check_project(project)
    if version is not None:
        check_version(version)
    environment(manifest, env)
    return {"PROJECT": project, "VERSION": version or "", "ENV": env}
