"""The login page and the form endpoints behind it: ``GET|POST /login``, ``POST /logout``.

A plain HTML form, so the page needs no script at all. A browser form cannot send ``kbn-xsrf``,
so these two form endpoints instead require an ``Origin`` header naming this server: browsers
send it with every form POST and a cross-site page cannot forge it.
"""

from __future__ import annotations

import html
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from llmrelay.auth import SESSION_COOKIE, principal_of, session_cookie_attributes
from llmrelay.errors import UserError

TEMPLATE = Template((Path(__file__).parent / "templates" / "login.html").read_text("utf-8"))
DEFAULT_NEXT = "/"


def _safe_next(value: str | None) -> str:
    """Only a path on this server: ``//host`` or ``https://host`` would be an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return DEFAULT_NEXT
    return value


def _page(error: str = "", next_path: str = DEFAULT_NEXT, status: int = 200) -> HTMLResponse:
    body = TEMPLATE.substitute(error=html.escape(error), next=html.escape(next_path, quote=True))
    return HTMLResponse(body, status_code=status)


def _same_origin(request: Request) -> bool:
    """The form came from a page of this server: as reached directly, or through the proxy
    named by ``server.public_base_url`` (where the scheme may differ)."""
    origin = request.headers.get("origin")
    if origin is None:
        return False
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}"}
    public = request.app.state.services.settings.server.public_base_url
    if public:
        parts = urlsplit(public)
        own.add(f"{parts.scheme}://{parts.netloc}")
    return origin in own


async def login_page(request: Request) -> Response:
    return _page(next_path=_safe_next(request.query_params.get("next")))


async def login_form(request: Request) -> Response:
    if not _same_origin(request):
        return _page("This form must be sent from the llmrelay login page.", status=403)
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    username = fields.get("username", [""])[0]
    password = fields.get("password", [""])[0]
    next_path = _safe_next(fields.get("next", [None])[0])
    services = request.app.state.services
    peer, forwarded = services.authenticator.addresses.of(request.scope)
    try:
        _, session_id = await services.authenticator.login(username, password, peer, forwarded)
    except UserError as exc:
        message = "Wrong username or password." if exc.status_code == 401 else exc.message
        return _page(message, next_path, status=exc.status_code)
    response = RedirectResponse(next_path, status_code=303)
    attributes = session_cookie_attributes(
        services.settings.security, request.url.scheme == "https"
    )
    response.set_cookie(SESSION_COOKIE, session_id, **attributes)  # type: ignore[arg-type]
    return response


async def logout_form(request: Request) -> Response:
    if not _same_origin(request):
        return _page("This form must be sent from an llmrelay page.", status=403)
    await request.app.state.services.authenticator.logout(principal_of(request.scope))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


routes: list[BaseRoute] = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_form, methods=["POST"]),
    Route("/logout", logout_form, methods=["POST"]),
]
