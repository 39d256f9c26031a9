"""Provider failures in Kibana's words (``getResponseErrorMessage`` and the sub-action framework).

Users and alerting rules match on these texts, e.g. ``Status code: 422. Message: API Error:
Unprocessable Entity - The model `bad model` does not exist``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from llmrelay.errors import TransportError, UpstreamError
from llmrelay.transport import HttpResponse

AZURE_FUNCTIONS_HINT = (
    "\n\nFunction support with Azure OpenAI API was added in 2023-07-01-preview. "
    "Update the API version of the Azure OpenAI connector in use"
)


def _provider_text(body: object) -> str:
    if not isinstance(body, Mapping):
        return ""
    error = body.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        return message if isinstance(message, str) else ""
    if isinstance(error, str):
        return error
    return ""


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds, or as an HTTP date (RFC 9110 allows both)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def http_error(response: HttpResponse) -> UpstreamError:
    """An error answer from the provider, with its own message kept for the caller."""
    text = _provider_text(response.json())
    if text == "Unrecognized request argument supplied: functions" and response.status == 404:
        message = f"API Error: {text}{AZURE_FUNCTIONS_HINT}"
    elif response.status == 401:
        message = "Unauthorized API Error" + (f" - {text}" if text else "")
    else:
        message = f"API Error: {response.reason}" + (f" - {text}" if text else "")
    return UpstreamError(
        f"Status code: {response.status}. Message: {message}",
        status=response.status,
        retry_after_s=_retry_after_s(response.headers),
        body=response.body,
        headers={name.lower(): value for name, value in response.headers.items()},
    )


def transport_error(error: TransportError) -> UpstreamError:
    """No answer at all: Kibana's ``Unexpected API Error`` with axios's error code.

    A host refused by ``allowedHosts`` never left: Kibana words that as a configuration error.
    """
    if error.code == "ERR_HOST_NOT_ALLOWED":
        return UpstreamError(
            f"error configuring connector action: {error.message}", transport_code=error.code
        )
    message = (
        "Status code: undefined. Message: "
        f"Unexpected API Error: {error.code} - {error.message or 'Unknown error'}"
    )
    return UpstreamError(pki_rewrite(message), transport_code=error.code)


def pki_rewrite(message: str) -> str:
    """Kibana's ``pkiErrorHandler``: TLS failures get a hint at what to check."""
    if "UNABLE_TO_VERIFY_LEAF_SIGNATURE" in message:
        return (
            f"Certificate error: {message}. Please check if your PKI certificates are valid "
            "or adjust SSL verification mode."
        )
    if "ERR_TLS_CERT_ALTNAME_INVALID" in message or "ERR_TLS_HANDSHAKE" in message:
        return (
            f"TLS handshake failed: {message}. "
            "Verify server certificate hostname and CA configuration."
        )
    return message
