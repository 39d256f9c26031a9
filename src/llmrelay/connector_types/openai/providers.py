"""How each provider wants its requests: one table row per provider, not if-chains.

Kibana's rules (``lib/openai_utils.ts``, ``azure_openai_utils.ts``, ``other_openai_utils.ts``),
with two deliberate differences: "Other" gets its default model on every sub-action, as Kibana's
documentation promises, not only on stream paths as its code does; and every streamed request
asks for usage (``stream_options.include_usage``) whatever the provider and URL, unless the
caller decided that itself. The service then withholds the usage chunk it asked for, and
retries once without the option when a server refuses it (``refuses_stream_options``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmrelay.connector_types.openai.schemas import Provider
from llmrelay.jsontext import dumps, loads

OPENAI_CHAT_COMPLETIONS_URL = "https://api.openai.com/v1/chat/completions"
"""Kibana's ``OPENAI_CHAT_URL``: the URL the create form starts an OpenAI connector with."""
OPENAI_OFFICIAL_URLS = frozenset(
    {OPENAI_CHAT_COMPLETIONS_URL, "https://api.openai.com/v1/completions"}
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


def _bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def _azure_key(api_key: str) -> dict[str, str]:
    return {"api-key": api_key}


@dataclass(frozen=True)
class ProviderRules:
    auth_headers: Callable[[str], dict[str, str]]
    sets_stream_flag: Callable[[str], bool]
    """Whether the ``stream`` key is written into the body for this URL."""
    injects_default_model: bool
    drops_orphan_tool_choice: bool
    sends_organization_headers: bool


PROVIDERS: Mapping[Provider, ProviderRules] = {
    "OpenAI": ProviderRules(
        auth_headers=_bearer,
        sets_stream_flag=_is_official_openai,
        injects_default_model=True,
        drops_orphan_tool_choice=True,
        sends_organization_headers=True,
    ),
    "Azure OpenAI": ProviderRules(
        auth_headers=_azure_key,
        sets_stream_flag=_is_azure_completion_path,
        injects_default_model=False,
        drops_orphan_tool_choice=False,
        sends_organization_headers=False,
    ),
    "Other": ProviderRules(
        auth_headers=_bearer,
        sets_stream_flag=_always,
        injects_default_model=True,
        drops_orphan_tool_choice=False,
        sends_organization_headers=False,
    ),
}


@dataclass(frozen=True)
class ShapedBody:
    text: str
    asked_usage: bool
    """True when llmrelay (not the caller) added ``stream_options.include_usage``."""


def _ask_usage(parsed: dict[str, object]) -> bool:
    """Add ``include_usage: true`` to a streamed body whose caller did not choose."""
    if parsed.get("stream") is not True:
        return False  # OpenAI refuses stream_options on a request that does not stream
    options = parsed.get("stream_options")
    if options is None:
        parsed["stream_options"] = {"include_usage": True}
        return True
    if isinstance(options, dict) and "include_usage" not in options:
        options["include_usage"] = True
        return True
    return False


def shape_body(
    rules: ProviderRules, *, url: str, body: str, stream: bool, default_model: str | None
) -> str:
    return shape_request(rules, url=url, body=body, stream=stream, default_model=default_model).text


def without_usage_request(body: str) -> str:
    """The body as it was before llmrelay asked for usage (for a server that refused that)."""
    parsed = loads(body)
    assert isinstance(parsed, dict)  # shape_request asked for usage in it: an object
    options = parsed["stream_options"]
    del options["include_usage"]
    if not options:
        del parsed["stream_options"]
    return dumps(parsed).decode()


def shape_request(
    rules: ProviderRules,
    *,
    url: str,
    body: str,
    stream: bool,
    default_model: str | None,
    ask_usage: bool = True,
) -> ShapedBody:
    """The body to send: the caller's JSON with the provider's keys set, key order kept.

    A body that is not a JSON object is forwarded unchanged, as Kibana does. Raises
    ``jsontext.LoneSurrogateError`` for a body holding a lone surrogate (OpenAI answers 400 to
    one; relayed it would reach the provider as bytes that are not UTF-8).
    """
    try:
        parsed = loads(body)
    except ValueError:
        return ShapedBody(body, False)
    if not isinstance(parsed, dict):
        return ShapedBody(body, False)
    if rules.sets_stream_flag(url):
        parsed["stream"] = stream
    asked = stream and ask_usage and _ask_usage(parsed)
    if rules.injects_default_model and default_model and not parsed.get("model"):
        parsed["model"] = default_model
    if rules.drops_orphan_tool_choice:
        if not parsed.get("tools"):
            parsed.pop("tool_choice", None)
            parsed.pop("parallel_tool_calls", None)
        if not parsed.get("functions"):
            parsed.pop("function_call", None)
    return ShapedBody(dumps(parsed, refuse_lone_surrogates=True).decode(), asked)


REFUSAL_STATUSES = frozenset({400, 422})


def refuses_stream_options(status: int, body: bytes) -> bool:
    """A server that refuses unknown fields names the one it refused (400 or 422, by kind)."""
    return status in REFUSAL_STATUSES and b"stream_options" in body
