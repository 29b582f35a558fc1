"""Who may approve publishing a project: the `input` step's submitter list.

`jenkins.approvers` in mlci.yaml names people (users of Jenkins' local realm) and the projects each
may approve; project.yaml's `publish.submitter` may name more. pipeline-input-step lets a named
submitter (or an administrator) answer without Job/Build, while an `input` without submitter needs
Job/Build, which only the admin and the API user have in the rendered Jenkins: so a project that asks
for approval always gets a submitter list when anyone is declared for it.
"""

from __future__ import annotations

from mlci.manifest.project import Publish
from mlci.manifest.schema import Manifest


def submitter(manifest: Manifest, project: str, publish: Publish) -> str | None:
    """The comma list for `input(submitter:)`: project.yaml's own names, then the approvers of
    `project`; None when nobody is named (then only Job/Build holders may approve)."""
    names = [n.strip() for n in (publish.submitter or "").split(",") if n.strip()]
    names += [a.user for a in manifest.jenkins.approvers if a.approves(project)]
    unique = list(dict.fromkeys(names))
    return ",".join(unique) if unique else None
