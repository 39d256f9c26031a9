"""Provider failures in Kibana's words (``getResponseErrorMessage`` and the sub-action framework).

Users and alerting rules match on these texts, e.g. ``Status code: 422. Message: API Error:
Unprocessable Entity - The model `bad model` does not exist``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from llmrelay.errors import TransportError, UpstreamError
from llmrelay.jsontext import RefusedJsonError, loads
from llmrelay.transport import HttpResponse

MAX_RETRY_AFTER_S = 24 * 3600.0
"""A ``Retry-After`` further away than a day is taken as a day: a provider's 20-digit value
must not become a retry time no calendar holds (it raised ``OverflowError``, a bare 500)."""

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
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(0.0, seconds), MAX_RETRY_AFTER_S) if seconds == seconds else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER_S)


def response_validation_failed(detail: str) -> UpstreamError:
    """The sub-action framework's words for an answer that is not what a completion must be."""
    return UpstreamError(f"Response validation failed (Error: {detail})")


def answer_json(response: HttpResponse) -> object:
    """The provider's successful answer as JSON; ``None`` for text that is not JSON at all (an
    empty body included).

    JSON no JavaScript client could read (``NaN``, ``Infinity``, a number beyond float range,
    nesting past ``jsontext.MAX_DEPTH``) is refused as a response validation failure: relayed,
    it would break the caller's parser, and counted, it broke the usage figures.
    """
    try:
        return loads(response.body, strict=True)
    except RefusedJsonError as exc:
        raise response_validation_failed(
            f"the provider's answer is not valid JSON: {exc}"
        ) from None
    except ValueError:
        return None


def redirected(response: HttpResponse) -> UpstreamError:
    """A 3xx: redirects are not followed (a connector calls the URL it was given); where the
    provider pointed is said so that ``apiUrl`` can be corrected."""
    location = response.headers.get("location") or response.headers.get("Location")
    where = f"redirected to {location}" if location else "redirected without a Location"
    return UpstreamError(
        f"Status code: {response.status}. Message: API Error: {response.reason} - the provider "
        f"{where}; redirects are not followed, so set apiUrl to the final URL",
        status=response.status,
        body=response.body,
        headers={name.lower(): value for name, value in response.headers.items()},
    )


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
