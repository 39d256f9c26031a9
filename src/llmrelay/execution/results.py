"""The result of running a connector, and its Kibana wire shape.

Connector-level failures are results, not exceptions: Kibana answers ``_execute`` with HTTP 200
and puts the failure in ``status`` so alerting rules can retry; we keep that contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from llmrelay.connectors import ByteStream, JsonObject
from llmrelay.errors import TransportError, UpstreamError

ErrorSource = Literal["user", "framework"]
RUN_FAILED = "an error occurred while running the action"


@dataclass(frozen=True)
class UpstreamFailure:
    """How the provider call failed, for callers that relay the provider's own answer rather than
    Kibana's wrapper (the OpenAI-compatible API). Never part of ``to_wire``.

    ``status``, ``headers`` (lower-cased names) and ``body`` are the provider's error answer;
    ``status`` is None when no answer came, and then ``transport_code`` says why
    (``ECONNREFUSED``, ``ECONNABORTED`` for a timeout, ...), or is None too when the answer came
    but was unusable (not the expected JSON).
    """

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    transport_code: str | None = None

    @classmethod
    def of(cls, error: UpstreamError | TransportError) -> UpstreamFailure:
        if isinstance(error, TransportError):
            return cls(transport_code=error.code or None)
        return cls(error.status, error.headers, error.body, error.transport_code)


@dataclass(frozen=True)
class ActionResult:
    status: Literal["ok", "error"]
    connector_id: str
    data: JsonObject | None = None
    stream: ByteStream | None = None
    message: str | None = None
    service_message: str | None = None
    retry: bool | datetime | None = None
    error_source: ErrorSource | None = None
    upstream: UpstreamFailure | None = None

    @classmethod
    def ok(cls, connector_id: str, data: JsonObject | ByteStream) -> ActionResult:
        if isinstance(data, ByteStream):
            return cls(status="ok", connector_id=connector_id, stream=data)
        return cls(status="ok", connector_id=connector_id, data=data)

    @classmethod
    def invalid(cls, connector_id: str, message: str, source: ErrorSource) -> ActionResult:
        """Validation failed before anything was sent: not worth retrying as is."""
        return cls(
            status="error",
            connector_id=connector_id,
            message=message,
            retry=False,
            error_source=source,
        )

    @classmethod
    def failed(
        cls,
        connector_id: str,
        service_message: str,
        source: ErrorSource,
        retry_after_s: float | None = None,
        upstream: UpstreamFailure | None = None,
    ) -> ActionResult:
        """The connector ran and failed; ``retry`` is a time when the provider named one."""
        retry: bool | datetime = True
        if retry_after_s is not None:
            retry = datetime.now(UTC) + timedelta(seconds=retry_after_s)
        return cls(
            status="error",
            connector_id=connector_id,
            message=RUN_FAILED,
            service_message=service_message or None,
            retry=retry,
            error_source=source,
            upstream=upstream,
        )

    def to_wire(self) -> JsonObject:
        """Kibana's execute response: ``connector_id``, ``service_message``, ``errorSource``."""
        body: JsonObject = {"status": self.status, "connector_id": self.connector_id}
        if self.data is not None:
            body["data"] = self.data
        if self.message is not None:
            body["message"] = self.message
        if self.service_message:
            body["service_message"] = self.service_message
        if isinstance(self.retry, datetime):
            body["retry"] = self.retry.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        elif self.retry is not None:
            body["retry"] = self.retry
        if self.error_source is not None:
            body["errorSource"] = self.error_source
        return body
