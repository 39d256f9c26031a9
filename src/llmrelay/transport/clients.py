"""Pooled outbound HTTP clients and the handle connector types send requests through.

httpx exceptions stop here: callers see ``TransportError`` with the Node/axios error code and the
wording Kibana users know (``connect ECONNREFUSED 127.0.0.1:1234``, ``timeout of 60000ms
exceeded``).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import httpx

from llmrelay.errors import TransportError
from llmrelay.transport.policy import NetworkPolicy


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


@dataclass(frozen=True)
class HttpResponse:
    """A fully read response (bounded by ``maxResponseContentLength``)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def reason(self) -> str:
        return reason_phrase(self.status)

    def json(self) -> object | None:
        """The body as JSON, or None when it is not JSON (providers sometimes send text)."""
        try:
            parsed: object = json.loads(self.body)
        except ValueError:
            return None
        return parsed


class HttpStream:
    """An open streamed response; iterate for the body's bytes exactly as they arrive."""

    def __init__(self, response: httpx.Response, timeout_s: float) -> None:
        self._response = response
        self._timeout_s = timeout_s
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    @property
    def reason(self) -> str:
        return reason_phrase(self.status)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise _translate(exc, self._timeout_s, str(self._response.url)) from None

    async def read_all(self, limit_bytes: int) -> HttpResponse:
        """Read what is left (used for error bodies, which are small JSON documents)."""
        body = bytearray()
        async for chunk in self:
            body.extend(chunk)
            if len(body) > limit_bytes:
                break
        await self.aclose()
        return HttpResponse(self.status, self.headers, bytes(body[:limit_bytes]))

    async def aclose(self) -> None:
        await self._response.aclose()


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _root_causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _translate(exc: httpx.HTTPError, timeout_s: float, url: str) -> TransportError:
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(
            f"timeout of {round(timeout_s * 1000)}ms exceeded", code="ECONNABORTED"
        )
    causes = _root_causes(exc)
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return TransportError(f"connect ECONNREFUSED {_host_port(url)}", code="ECONNREFUSED")
        if any(isinstance(c, socket.gaierror) for c in causes):
            host = urlsplit(url).hostname
            return TransportError(f"getaddrinfo ENOTFOUND {host}", code="ENOTFOUND")
        return TransportError(f"connect failed {_host_port(url)}: {exc}", code="ECONNERROR")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return TransportError("socket hang up", code="ECONNRESET")
    return TransportError(str(exc) or type(exc).__name__, code="")


class HttpClientPool:
    """Keeps connections to providers open between executions; closed once at shutdown."""

    def __init__(self) -> None:
        self._client = httpx.AsyncClient(
            http2=True,
            trust_env=False,  # proxies come from llmrelay's own settings, never the environment
            follow_redirects=False,
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200),
        )

    def client(self) -> httpx.AsyncClient:
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()


class OutboundHttp:
    """The HTTP handle a connector type receives: bound to the network policy."""

    def __init__(self, pool: HttpClientPool, policy: NetworkPolicy) -> None:
        self._pool = pool
        self.policy = policy

    def _check_host(self, url: str) -> None:
        if not self.policy.is_host_allowed(url):
            raise TransportError(NetworkPolicy.allow_list_message(url), code="ERR_HOST_NOT_ALLOWED")

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpResponse:
        """POST and read the whole answer, refusing one larger than the policy allows."""
        self._check_host(url)
        limit = self.policy.max_response_content_length_bytes
        client = self._pool.client()
        try:
            async with asyncio.timeout(timeout_s):
                request = client.build_request(
                    "POST", url, headers=headers, content=body, timeout=timeout_s
                )
                response = await client.send(request, stream=True)
                try:
                    declared = response.headers.get("content-length")
                    if declared is not None and declared.isdigit() and int(declared) > limit:
                        raise _too_large(limit)
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data.extend(chunk)
                        if len(data) > limit:
                            raise _too_large(limit)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise TransportError(
                f"timeout of {round(timeout_s * 1000)}ms exceeded", code="ECONNABORTED"
            ) from None
        except httpx.HTTPError as exc:
            raise _translate(exc, timeout_s, url) from None
        return HttpResponse(response.status_code, response.headers, bytes(data))

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpStream:
        """POST and return as soon as the response head arrives; the caller must close it."""
        self._check_host(url)
        client = self._pool.client()
        request = client.build_request(
            "POST", url, headers=headers, content=body, timeout=timeout_s
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _translate(exc, timeout_s, url) from None
        return HttpStream(response, timeout_s)


def _too_large(limit: int) -> TransportError:
    return TransportError(f"maxContentLength size of {limit} exceeded", code="ERR_BAD_RESPONSE")
