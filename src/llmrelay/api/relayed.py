"""The relayed routes answered straight from the application, not through Starlette's layers.

Every execution comes through ``POST /api/actions/connector/{id}/_execute`` or an
OpenAI-compatible chat completion. Starlette would send it through its error middleware,
llmrelay's guards, its exception middleware, the router and two exception wrappers before
the route function runs, each a coroutine and most wrapping ``send``: 13% of the instructions
an execution costs in process (callgrind: 873,000 against 709,000 per request).
``RelayedRoutes`` gives the same answers with the same parts: the guards' own checks
(``api.request_guards.GUARDS``, the same list in the same order, and ``bounded_receive``),
the route function itself and the application's exception handlers. Every other request, and
every request when CORS is on (its headers come from Starlette's middleware), takes Starlette's
way. (The page headers of ``PageSecurityHeaders``
are not on these paths either way.)
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from llmrelay.api.errors import exception_response
from llmrelay.api.guards import bounded_receive
from llmrelay.api.request_guards import refusal_of, send_refusal


class RelayedRoutes:
    def __init__(self, routes: Sequence[Route], *, max_payload_bytes: int) -> None:
        """``routes``: API routes taken only by ``POST``, behind the Kibana guards (``kbn-xsrf``
        on ``/api/`` paths, the payload limit) and authentication unless they authenticate
        their callers themselves (``authenticates_itself``)."""
        self._routes = tuple(routes)
        self._max_payload_bytes = max_payload_bytes

    def match(self, scope: Scope) -> Route | None:
        """The route for this request, its path parameters put in ``scope``; None for any other."""
        if scope["method"] != "POST":
            return None
        for route in self._routes:
            found, child_scope = route.matches(scope)
            if found is Match.FULL:
                scope.update(child_scope)
                return route
        return None

    async def handle(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = await refusal_of(scope, self._max_payload_bytes)
        if refusal is not None:
            await send_refusal(send, refusal)
            return
        receive = bounded_receive(scope, receive, self._max_payload_bytes)
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            response = await exception_response(request, exc)
        await response(scope, receive, send)


__all__ = ["RelayedRoutes"]
