"""The Jinja2 environment for the few text (non-data) files: strict, with per-language escapers."""

from __future__ import annotations

import shlex
from functools import cache
from typing import Any

import jinja2

from mlci.render.syntax import groovy_str


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlci.render", "templates"),
        undefined=jinja2.StrictUndefined,  # a missing value is a bug, never an empty string
        autoescape=False,  # every value is escaped by the filter for its language instead
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    env.filters["groovy"] = groovy_str
    env.filters["sh"] = lambda value: shlex.quote(str(value))
    return env


def render_template(name: str, **values: Any) -> str:
    return _environment().get_template(name).render(**values)
