"""The one exception tree of llmrelay.

Every error a caller can act on is one of these; third-party exceptions are translated where they
enter (httpx in ``transport/``, SQLAlchemy in ``storage/``, pydantic in the sub-action dispatch), so
the API's error mapping only has to know this module::

    LlmrelayError
    ├── UserError                  the request is wrong; 4xx, message says what is wrong
    │   ├── BadRequestError        400 (validation, malformed input, refused modification)
    │   ├── UnauthorizedError      401
    │   ├── ForbiddenError         403
    │   ├── NotFoundError          404
    │   ├── ConflictError          409
    │   ├── PayloadTooLargeError   413
    │   └── TooManyRequestsError   429 (failed logins throttled; ``retry_after_s``)
    ├── UpstreamError              the LLM provider answered an error; carried as Kibana's
    │                              ``service_message``, never a 5xx of ours
    ├── TransportError             no HTTP answer at all (refused, reset, timed out, too large,
    │                              host not allowed); raised by ``transport/`` in place of httpx's
    ├── ConfigurationError         settings or key material are unusable; stops start-up
    ├── StorageUnavailableError    the database cannot be reached or written now (gone, disk
    │                              full); 503 with ``Retry-After``; batch writers keep a backlog
    └── SecretsError               stored secrets cannot be decrypted (wrong or missing key)

Anything else raised inside llmrelay is a bug: the API answers a bare 500 and logs the traceback.
"""

from __future__ import annotations

from collections.abc import Mapping


class LlmrelayError(Exception):
    """Root of every error llmrelay raises on purpose."""


class UserError(LlmrelayError):
    """The caller sent something wrong; ``status_code`` is the HTTP status it maps to."""

    status_code: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequestError(UserError):
    status_code = 400


class UnauthorizedError(UserError):
    status_code = 401


class ForbiddenError(UserError):
    status_code = 403


class NotFoundError(UserError):
    status_code = 404


class ConflictError(UserError):
    status_code = 409


class PayloadTooLargeError(UserError):
    status_code = 413


class TooManyRequestsError(UserError):
    status_code = 429

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UpstreamError(LlmrelayError):
    """A provider call failed.

    ``message`` is already in Kibana's wording (``Status code: 422. Message: API Error: ...``);
    ``status`` is the provider's HTTP status when there was one, ``retry_after_s`` its
    ``Retry-After`` hint, and ``user_caused`` marks failures Kibana attributes to the user.
    ``body`` and ``headers`` (names lower-cased) are the provider's error answer as it came, and
    ``transport_code`` the ``TransportError.code`` when no answer came at all: kept for callers
    that relay the provider's answer instead of wrapping it (the OpenAI-compatible API).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        user_caused: bool = False,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        transport_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s
        self.user_caused = user_caused
        self.body = body
        self.headers: Mapping[str, str] = headers or {}
        self.transport_code = transport_code


class TransportError(LlmrelayError):
    """No usable HTTP answer arrived.

    ``code`` follows the Node/axios codes Kibana users see in messages (``ECONNREFUSED``,
    ``ECONNRESET``, ``ECONNABORTED`` for a timeout, ``ERR_FR_MAX_BODY_LENGTH_EXCEEDED``,
    ``ERR_HOST_NOT_ALLOWED``), so error texts read the same as Kibana's.
    """

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ConfigurationError(LlmrelayError):
    """Settings, a config file or key material cannot be used; start-up stops with this message."""


class SecretsError(LlmrelayError):
    """Stored secrets could not be decrypted: the encryption key is wrong or was lost."""


class StorageUnavailableError(LlmrelayError):
    """The database stopped answering or cannot take writes now (a restart, a failover, a
    network cut, a full disk); the same operation may succeed later.

    Neither the caller's fault nor a bug: routes answer 503 with ``Retry-After`` and the reason,
    so clients and load balancers retry instead of reporting a server error, and the batch
    writers keep their rows in a bounded backlog and retry. At start-up the same failure is a
    ``ConfigurationError`` instead, since then the URL itself may be wrong. Raised by
    ``storage/`` in place of the driver's error.
    """

    def __init__(self, message: str, *, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s
