"""How each provider wants its requests: one table row per provider, not if-chains.

Kibana's rules (``lib/openai_utils.ts``, ``azure_openai_utils.ts``, ``other_openai_utils.ts``),
with one deliberate difference: "Other" gets its default model on every sub-action, as Kibana's
documentation promises, not only on stream paths as its code does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmrelay.connector_types.openai.schemas import Provider
from llmrelay.jsontext import dumps, loads

OPENAI_OFFICIAL_URLS = frozenset(
    {"https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/completions"}
)
AZURE_PATH_TEMPLATES = (
    re.compile(r"/openai/deployments/[^/]+/chat/completions"),
    re.compile(r"/openai/deployments/[^/]+/completions"),
    re.compile(r"/openai/deployments/[^/]+/extensions/chat/completions"),
)


def _is_official_openai(url: str) -> bool:
    return url in OPENAI_OFFICIAL_URLS


def _is_azure_completion_path(url: str) -> bool:
    return any(template.search(url) for template in AZURE_PATH_TEMPLATES)


def _always(url: str) -> bool:
    return True


def _never(url: str) -> bool:
    return False


def _bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def _azure_key(api_key: str) -> dict[str, str]:
    return {"api-key": api_key}


@dataclass(frozen=True)
class ProviderRules:
    auth_headers: Callable[[str], dict[str, str]]
    sets_stream_flag: Callable[[str], bool]
    """Whether the ``stream`` key is written into the body for this URL."""
    asks_stream_usage: Callable[[str], bool]
    """Whether a streamed request gets ``stream_options.include_usage``."""
    injects_default_model: bool
    drops_orphan_tool_choice: bool
    sends_organization_headers: bool


PROVIDERS: Mapping[Provider, ProviderRules] = {
    "OpenAI": ProviderRules(
        auth_headers=_bearer,
        sets_stream_flag=_is_official_openai,
        asks_stream_usage=_is_official_openai,
        injects_default_model=True,
        drops_orphan_tool_choice=True,
        sends_organization_headers=True,
    ),
    "Azure OpenAI": ProviderRules(
        auth_headers=_azure_key,
        sets_stream_flag=_is_azure_completion_path,
        asks_stream_usage=_is_azure_completion_path,
        injects_default_model=False,
        drops_orphan_tool_choice=False,
        sends_organization_headers=False,
    ),
    "Other": ProviderRules(
        auth_headers=_bearer,
        sets_stream_flag=_always,
        asks_stream_usage=_never,
        injects_default_model=True,
        drops_orphan_tool_choice=False,
        sends_organization_headers=False,
    ),
}


def shape_body(
    rules: ProviderRules, *, url: str, body: str, stream: bool, default_model: str | None
) -> str:
    """The body to send: the caller's JSON with the provider's keys set, key order kept.

    A body that is not a JSON object is forwarded unchanged, as Kibana does.
    """
    try:
        parsed = loads(body)
    except ValueError:
        return body
    if not isinstance(parsed, dict):
        return body
    if rules.sets_stream_flag(url):
        parsed["stream"] = stream
        if stream and rules.asks_stream_usage(url):
            parsed["stream_options"] = {"include_usage": True}
    if rules.injects_default_model and default_model and not parsed.get("model"):
        parsed["model"] = default_model
    if rules.drops_orphan_tool_choice:
        if not parsed.get("tools"):
            parsed.pop("tool_choice", None)
            parsed.pop("parallel_tool_calls", None)
        if not parsed.get("functions"):
            parsed.pop("function_call", None)
    return dumps(parsed).decode()
