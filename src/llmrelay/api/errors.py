"""Map llmrelay's exception tree onto Kibana's error body ``{statusCode, error, message}``.

Only ``llmrelay.errors`` is known here (DESIGN.md rule 6). Anything else is a bug: the caller
gets hapi's bare 500 text and the traceback goes to the log, never into the response.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from llmrelay.errors import SecretsError, StorageUnavailableError, TooManyRequestsError, UserError

logger = logging.getLogger("llmrelay.api")


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message}
    return JSONResponse(body, status_code=status, headers=headers)


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UserError)
    headers = None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(int(exc.retry_after_s))}
    elif exc.status_code == 401:
        headers = {"WWW-Authenticate": 'Basic realm="llmrelay", charset="UTF-8"'}
    return error_response(exc.status_code, exc.message, headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = 404 if exc.status_code == 405 else exc.status_code  # hapi answers 404 for both
    message = HTTPStatus(status).phrase if status == 404 else str(exc.detail)
    return error_response(status, message)


async def _secrets_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("stored secrets could not be decrypted: %s", exc)
    return error_response(500, "An internal server error occurred.")


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database went away: a 503 the caller (or its load balancer) can retry, once logged
    as a warning per request rather than a traceback, since nothing here is a bug."""
    assert isinstance(exc, StorageUnavailableError)
    logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
    headers = {"Retry-After": str(int(exc.retry_after_s))}
    return error_response(503, exc.message, headers)


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The caller hung up before its request body arrived: nothing went wrong here, and nobody
    is left to answer (a load generator stopping, a client timing out)."""
    logger.debug(
        "client left before sending its whole request: %s %s", request.method, request.url.path
    )
    return Response(status_code=400)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "An internal server error occurred.")


_HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[Response]]] = {
    UserError: _user_error,
    HTTPException: _http_error,
    SecretsError: _secrets_error,
    StorageUnavailableError: _unavailable,
    ClientDisconnect: _client_gone,
    Exception: _bug,
}
EXCEPTION_HANDLERS: dict[int | type[Exception], ExceptionHandler] = {
    cls: handler for cls, handler in _HANDLERS.items()
}


async def exception_response(request: Request, exc: Exception) -> Response:
    """What ``EXCEPTION_HANDLERS`` answer to ``exc``: the handler of its nearest class, as
    Starlette chooses it, for routes answered outside Starlette's middleware."""
    for cls in type(exc).__mro__:
        handler = _HANDLERS.get(cls)
        if handler is not None:
            return await handler(request, exc)
    raise exc  # pragma: no cover - ``Exception`` has a handler
