"""The guards every request passes before its route, declared once for both pipelines.

Starlette's middleware stack (``RequestGuard``) and the relayed routes answered before it
(``api.relayed``) run the same ``GUARDS``, in Kibana's order: credentials first (Kibana
authenticates before its ``onPostAuth`` checks), then what Kibana refuses before reading a body
(no ``kbn-xsrf`` on a mutating API request, a declared body over ``server.max_payload_bytes``).
A guard that lived in one pipeline only, or in another order, gave the same request two answers
(an unauthenticated ``_execute`` without ``kbn-xsrf``: 400 relayed, 401 through Starlette).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from llmrelay.api.authentication import (
    PUBLIC,
    authenticate_scope,
    authenticates_itself,
    challenge_headers,
    is_api_path,
)
from llmrelay.api.guards import bounded_receive, kibana_refusal, send_error
from llmrelay.auth import PRINCIPAL_SCOPE_KEY
from llmrelay.errors import StorageUnavailableError, UserError


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request answered by a guard in Kibana's error shape, before any route runs."""

    status: int
    message: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


Guard = Callable[[Scope, int], Awaitable[Refusal | None]]
"""``guard(scope, max_payload_bytes)``: why the request is refused, or None to let it on."""


async def credentials(scope: Scope, max_payload_bytes: int) -> Refusal | None:
    """Leave the caller's principal in the scope, or refuse: 401 or 429 (with their challenge),
    503 when credentials not cached yet cannot be checked because the database is gone. Open
    routes, and the OpenAI-compatible ones that check their callers' keys themselves (to answer
    in OpenAI's shape), pass."""
    if (scope["method"], scope["path"]) in PUBLIC or authenticates_itself(scope["path"]):
        return None
    try:
        scope[PRINCIPAL_SCOPE_KEY] = await authenticate_scope(scope)
    except UserError as exc:
        return Refusal(exc.status_code, exc.message, challenge_headers(exc))
    except StorageUnavailableError as exc:
        return Refusal(503, exc.message, [(b"retry-after", str(int(exc.retry_after_s)).encode())])
    return None


async def kibana_rules(scope: Scope, max_payload_bytes: int) -> Refusal | None:
    refused = kibana_refusal(scope, max_payload_bytes)
    return None if refused is None else Refusal(*refused)


GUARDS: tuple[Guard, ...] = (credentials, kibana_rules)


async def refusal_of(scope: Scope, max_payload_bytes: int) -> Refusal | None:
    """The first guard's refusal, or None when every guard lets the request on."""
    for guard in GUARDS:
        refusal = await guard(scope, max_payload_bytes)
        if refusal is not None:
            return refusal
    return None


async def send_refusal(send: Send, refusal: Refusal) -> None:
    await send_error(send, refusal.status, refusal.message, refusal.headers)


def _is_page_visit(scope: Scope) -> bool:
    return scope["method"] == "GET" and not is_api_path(scope["path"])


async def _redirect_to_login(scope: Scope, send: Send) -> None:
    path = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    target = f"{path}?{query}" if query else path  # a deep link keeps its query
    location = f"/login?next={quote(target, safe='/')}"
    await send(
        {
            "type": "http.response.start",
            "status": 302,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


class RequestGuard:
    """``GUARDS`` as plain ASGI middleware, for every request Starlette's stack serves; a page
    asked for without a session is sent to the login page instead of a 401."""

    def __init__(self, app: ASGIApp, *, max_payload_bytes: int) -> None:
        self.app = app
        self.max_payload_bytes = max_payload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = await refusal_of(scope, self.max_payload_bytes)
        if refusal is not None:
            if refusal.status == 401 and _is_page_visit(scope):
                await _redirect_to_login(scope, send)
            else:
                await send_refusal(send, refusal)
            return
        await self.app(scope, bounded_receive(scope, receive, self.max_payload_bytes), send)
