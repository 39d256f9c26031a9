"""Errors of the OpenAI-compatible routes in OpenAI's shape, ``{"error": {message, type, param,
code}}``, so that OpenAI SDKs raise their usual exceptions (``NotFoundError``, ``RateLimitError``).

A provider that answered an error is relayed: its status, its body (when it is already an OpenAI
error object) and its rate-limit headers, with ``x-llmrelay-error-source: provider`` to tell it
from llmrelay's own refusals. Only ``llmrelay.errors`` and the execution result are known here.
"""

from __future__ import annotations

import json
import logging

from starlette.responses import JSONResponse, Response

from llmrelay.errors import LlmrelayError, SecretsError, StorageUnavailableError, UserError
from llmrelay.execution import ActionResult, UpstreamFailure

logger = logging.getLogger("llmrelay.api")

ERROR_SOURCE_HEADER = "x-llmrelay-error-source"
RELAYED_HEADERS = frozenset({"retry-after", "retry-after-ms", "x-request-id"})
RELAYED_HEADER_PREFIXES = ("x-ratelimit-",)
TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
CODES = {401: "invalid_api_key", 403: "permission_denied", 404: "model_not_found"}
INTERNAL = "An internal server error occurred."


def error_body(
    message: str, kind: str, code: str | None = None, param: str | None = None
) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind = TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return JSONResponse(error_body(message, kind, code, param), status, headers=headers)


def from_exception(exc: LlmrelayError) -> JSONResponse:
    """llmrelay's own refusals: a ``UserError`` keeps its status and message."""
    if isinstance(exc, UserError):
        headers = {"www-authenticate": "Bearer"} if exc.status_code == 401 else None
        return error_response(
            exc.status_code, exc.message, code=CODES.get(exc.status_code), headers=headers
        )
    if isinstance(exc, StorageUnavailableError):
        logger.warning("OpenAI-compatible API: %s", exc.message)
        retry = {"retry-after": str(int(exc.retry_after_s))}
        return error_response(503, exc.message, code="service_unavailable", headers=retry)
    if isinstance(exc, SecretsError):
        logger.error("stored secrets could not be decrypted: %s", exc)
    else:
        logger.error("unexpected llmrelay error on the OpenAI-compatible API: %s", exc)
    return error_response(500, INTERNAL)


def _is_openai_error(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("error"), dict)


def _relayed_headers(upstream: UpstreamFailure) -> dict[str, str]:
    headers = {
        name: value
        for name, value in upstream.headers.items()
        if name in RELAYED_HEADERS or name.startswith(RELAYED_HEADER_PREFIXES)
    }
    headers[ERROR_SOURCE_HEADER] = "provider"
    return headers


def from_failed_result(result: ActionResult) -> Response:
    """A failed execution: the provider's answer when it gave one, else 502/504 or ours."""
    message = result.service_message or result.message or "the connector failed"
    upstream = result.upstream
    if upstream is None:  # refused before anything was sent: params or the connector's config
        if result.error_source == "user":  # e.g. not Unicode, which OpenAI refuses the same way
            return error_response(400, message)
        return error_response(500, message, code="connector_unusable")
    if upstream.status is not None and upstream.status < 400:  # a redirect, not followed
        return error_response(502, message, code="upstream_redirected")
    if upstream.status is not None:
        headers = _relayed_headers(upstream)
        if _is_openai_error(upstream.body):
            return Response(upstream.body, upstream.status, headers, "application/json")
        kind = TYPES.get(upstream.status, "upstream_error")
        return JSONResponse(error_body(message, kind), upstream.status, headers)
    if upstream.transport_code == "ECONNABORTED":
        return error_response(504, message, code="upstream_timeout")
    if upstream.transport_code is not None:
        return error_response(502, message, code="upstream_unreachable")
    return error_response(502, message, code="bad_upstream_response")


def stream_error_event(exc: LlmrelayError) -> bytes:
    """A stream that broke off after its head: a last ``data:`` event holding an OpenAI error,
    which the SDKs raise as ``APIError`` (they would read Kibana's ``event: error`` as a chunk)."""
    body = error_body(str(exc), "server_error", "upstream_stream_broken")
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
