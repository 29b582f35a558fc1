"""The constrained value types every manifest model is built from: names, secrets, paths, URLs, Git
refs, labels, sizes and durations (mlci/manifest/units.py), the GPU request, and the strict base
model (unknown keys are errors, values are frozen).

Every free-form string that ends up in a rendered file, a shell command or a container label is
matched whole (`\\Z`, never `$`, so a trailing newline never passes) against one of these patterns.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mlci.manifest.units import parse_duration, parse_size

DEFAULT_BASE_IMAGE = "mlci/python:3.11-bookworm"
NAME_RE = r"^[a-z0-9][a-z0-9-]{0,62}\Z"
SECRET_RE = r"^[A-Z][A-Z0-9_]{0,127}\Z"
STAGE_RE = r"^[a-z0-9][a-z0-9_-]{0,62}\Z"
HOSTNAME_RE = (
    r"^(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z"
)
ADDRESS_RE = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*|" + HOSTNAME_RE[1:-2] + r")\Z"
# URLs end up in YAML, TOML, Groovy strings and shell words: allow only the characters a URL needs
# and none that any of those languages treats specially ($, `, ', ", \, whitespace, {, }).
URL_RE = (
    r"^(https?|ssh|git)://[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]+\Z|^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:[A-Za-z0-9._/~-]+\Z"
)
REF_RE = r"^(?!.*\.\.)(?!/)[A-Za-z0-9._/-]{1,200}(?<!/)(?<!\.lock)\Z"
POSIX_USER_RE = r"^[a-z_][a-z0-9_-]{0,31}\Z"
LABEL_RE = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}\Z"
IMAGE_RE = r"^[a-z0-9][a-z0-9._/:@-]{0,254}\Z"
PATH_RE = r"^[A-Za-z0-9._/~-]{1,4096}\Z"
TEXT_RE = r"^[^\x00-\x1f\x7f$`'\"\\{}]*\Z"
# An exact release (PEP 440 public version, no local part): what `pip install mlci==X` accepts.
VERSION_RE = r"[0-9]+(\.[0-9]+){0,3}((a|b|rc)[0-9]+)?(\.post[0-9]+)?(\.dev[0-9]+)?"

Name = Annotated[str, Field(pattern=NAME_RE)]
SecretName = Annotated[str, Field(pattern=SECRET_RE)]
SafePath = Annotated[str, Field(pattern=PATH_RE)]
Url = Annotated[str, Field(pattern=URL_RE)]
GitRef = Annotated[str, Field(pattern=REF_RE)]
Label = Annotated[str, Field(pattern=LABEL_RE)]

Duration = Annotated[int, BeforeValidator(parse_duration)]  # grammar: mlci/manifest/units.py
ByteSize = Annotated[int, BeforeValidator(parse_size)]


def check_gpus(value: Any) -> str | int | list[int]:
    """`auto | all | none | N | [i, j]` (DESIGN.md); anything else is an error with the choices."""
    hint = "must be auto, all, none, a GPU count or device indexes — e.g. `gpus: 1` or `gpus: [0, 1]`"
    if isinstance(value, bool):
        raise ValueError(hint)
    if isinstance(value, str) and value in ("auto", "all", "none"):
        return value
    if isinstance(value, int) and value >= 0:
        return value
    if (
        isinstance(value, list)
        and value
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in value)
    ):
        if len(set(value)) != len(value):
            raise ValueError("lists a device twice — name each GPU index once")
        return value
    raise ValueError(hint)


GpuSpec = Annotated[Any, BeforeValidator(check_gpus)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")
