"""jenkins.approvers in mlci.yaml: the people who may approve publishing, and which projects."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator

from mlci.manifest.fields import NAME_RE, POSIX_USER_RE, SecretName, Strict


class Approver(Strict):
    """A person who may approve publishing: a user of Jenkins' local realm with only Overall/Read and
    Job/Read, named as `input` submitter of the projects listed (`"*"`: every project)."""

    user: Annotated[str, Field(pattern=POSIX_USER_RE)] = Field(description="Jenkins user id, e.g. alice")
    password: SecretName = Field(description="secret holding the user's Jenkins password")
    projects: Annotated[list[str], Field(min_length=1)] = Field(
        description='projects this person may approve, or ["*"] for every project'
    )

    @field_validator("projects")
    @classmethod
    def _project_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name != "*" and not re.fullmatch(NAME_RE, name):
                raise ValueError(f"'{name}' is not a project name — list project names, or \"*\" for every project")
        return value

    def approves(self, project: str) -> bool:
        return "*" in self.projects or project in self.projects
