"""The Jinja2 environment every page renders with: autoescaped, with the pages' filters."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape


def environment(**filters: Callable[..., object]) -> Environment:
    env = Environment(
        loader=PackageLoader("llmrelay.ui", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(path_segment=lambda value: quote(str(value), safe=""), **filters)
    return env
