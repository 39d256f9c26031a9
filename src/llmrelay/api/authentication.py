"""Plain ASGI middleware: every request is authenticated before any route runs.

Open without credentials: ``GET /api/status`` (load balancers) and the login page and endpoint;
the OpenAI-compatible routes (``/v1/``, ``/openai/``) authenticate their callers themselves.
API paths (``/api/``, ``/internal/``) answer 401 with ``WWW-Authenticate``; a page asked for
without a session is redirected to the login page. The principal is left in the scope under
``llmrelay.auth.PRINCIPAL_SCOPE_KEY``; read it with ``llmrelay.auth.principal_of(request.scope)``.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from llmrelay.api.guards import send_error
from llmrelay.auth import PRINCIPAL_SCOPE_KEY, SESSION_COOKIE, Principal
from llmrelay.errors import StorageUnavailableError, TooManyRequestsError, UserError

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


async def send_refusal(send: Send, exc: UserError | StorageUnavailableError) -> None:
    """Why credentials were not accepted, in Kibana's shape: refused (401, 429 with its
    challenge) or not checkable now (503: they were not cached and the database is gone).
    Both request pipelines answer with this, so they cannot drift apart."""
    if isinstance(exc, StorageUnavailableError):
        retry = [(b"retry-after", str(int(exc.retry_after_s)).encode())]
        await send_error(send, 503, exc.message, retry)
        return
    await send_error(send, exc.status_code, exc.message, challenge_headers(exc))


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


class AuthenticationGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or (scope["method"], scope["path"]) in PUBLIC
            or authenticates_itself(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        try:
            principal = await authenticate_scope(scope)
        except UserError as exc:
            path = scope["path"]
            if exc.status_code == 401 and not is_api_path(path) and scope["method"] == "GET":
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
                return
            await send_refusal(send, exc)
            return
        except StorageUnavailableError as exc:
            await send_refusal(send, exc)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)
