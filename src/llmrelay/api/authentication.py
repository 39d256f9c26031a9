"""Who a request comes from: its credentials, and which routes need none.

``api.request_guards`` runs this for every request before any route runs.

Open without credentials: ``GET /api/status`` (load balancers) and the login page and endpoint;
the OpenAI-compatible routes (``/v1/``, ``/openai/``) authenticate their callers themselves.
API paths (``/api/``, ``/internal/``) answer 401 with ``WWW-Authenticate``; a page asked for
without a session is redirected to the login page. The principal is left in the scope under
``llmrelay.auth.PRINCIPAL_SCOPE_KEY``; read it with ``llmrelay.auth.principal_of(request.scope)``.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from starlette.types import Scope

from llmrelay.auth import SESSION_COOKIE, Principal
from llmrelay.errors import TooManyRequestsError, UserError

PUBLIC = frozenset(
    {
        ("GET", "/api/status"),
        ("HEAD", "/api/status"),
        ("GET", "/readyz"),
        ("HEAD", "/readyz"),
        ("GET", "/livez"),
        ("HEAD", "/livez"),
        ("GET", "/login"),
        ("HEAD", "/login"),
        ("POST", "/login"),
        ("POST", "/internal/security/login"),
    }
)
WWW_AUTHENTICATE = [
    (b"www-authenticate", b'Basic realm="llmrelay", charset="UTF-8"'),
    (b"www-authenticate", b"ApiKey"),
]


def session_cookie(header: bytes) -> str | None:
    try:
        cookies = SimpleCookie(header.decode("latin-1"))
    except CookieError:
        return None
    morsel = cookies.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


def is_api_path(path: str) -> bool:
    return path.startswith(("/api/", "/internal/"))


def authenticates_itself(path: str) -> bool:
    """The OpenAI-compatible routes check the caller's key themselves, to answer OpenAI SDKs
    (which send ``Bearer`` or ``api-key``) in OpenAI's error shape (``api.openai_compat``)."""
    return path.startswith(("/v1/", "/openai/"))


def challenge_headers(exc: UserError) -> list[tuple[bytes, bytes]]:
    if isinstance(exc, TooManyRequestsError):
        return [(b"retry-after", str(int(exc.retry_after_s)).encode())]
    if exc.status_code == 401:
        return list(WWW_AUTHENTICATE)
    return []


async def authenticate_scope(scope: Scope) -> Principal:
    """The principal of the credentials the request carries (Basic or ``ApiKey`` in
    ``Authorization``, or the session cookie); raises ``UserError`` (401, or 429 when throttled)."""
    authorization: str | None = None
    cookie: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"cookie":
            cookie = session_cookie(value) or cookie
    authenticator = scope["app"].state.services.authenticator
    peer, forwarded = authenticator.addresses.of(scope)
    principal: Principal = await authenticator.authenticate(authorization, cookie, peer, forwarded)
    return principal
