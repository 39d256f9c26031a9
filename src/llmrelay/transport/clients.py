"""Pooled outbound HTTP clients and the handle connector types send requests through.

aiohttp, not httpx: on this path httpx cost 1.7 ms a request against aiohttp's 0.4 ms (measured
with ``bench/overhead.py``'s upstream, 1,000 sequential requests), and the relay's added latency
budget is 1 ms. aiohttp exceptions stop here: callers see ``TransportError`` with the Node/axios
error code and wording Kibana users know (``connect ECONNREFUSED 127.0.0.1:1234``, ``timeout of
60000ms exceeded``).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import aiohttp

from llmrelay.errors import TransportError
from llmrelay.jsontext import loads
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
            parsed: object = loads(self.body)
        except ValueError:
            return None
        return parsed


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def _timed_out(timeout_s: float) -> TransportError:
    return TransportError(f"timeout of {round(timeout_s * 1000)}ms exceeded", code="ECONNABORTED")


def _too_large(limit: int) -> TransportError:
    return TransportError(f"maxContentLength size of {limit} exceeded", code="ERR_BAD_RESPONSE")


def _translate(exc: BaseException, timeout_s: float, url: str) -> TransportError:
    if isinstance(exc, TimeoutError):
        return _timed_out(timeout_s)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return TransportError(f"connect ECONNREFUSED {_host_port(url)}", code="ECONNREFUSED")
        if isinstance(exc.os_error, socket.gaierror):
            host = urlsplit(url).hostname
            return TransportError(f"getaddrinfo ENOTFOUND {host}", code="ENOTFOUND")
        return TransportError(
            f"connect failed {_host_port(url)}: {exc.os_error}", code="ECONNERROR"
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return TransportError("socket hang up", code="ECONNRESET")
    if isinstance(exc, aiohttp.ClientOSError):
        return TransportError(f"socket error: {exc.strerror or exc}", code="ECONNRESET")
    return TransportError(str(exc) or type(exc).__name__, code="")


_ERRORS = (aiohttp.ClientError, TimeoutError)


class HttpStream:
    """An open streamed response; iterate for the body's bytes exactly as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse, timeout_s: float, url: str) -> None:
        self._response = response
        self._timeout_s = timeout_s
        self._url = url
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    @property
    def reason(self) -> str:
        return reason_phrase(self.status)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except _ERRORS as exc:
            raise _translate(exc, self._timeout_s, self._url) from None

    async def read_all(self, limit_bytes: int) -> HttpResponse:
        """Read what is left; refuses more than ``limit_bytes``, like a non-streamed call."""
        body = bytearray()
        try:
            async for chunk in self:
                body.extend(chunk)
                if len(body) > limit_bytes:
                    raise _too_large(limit_bytes)
        finally:
            await self.aclose()
        return HttpResponse(self.status, self.headers, bytes(body))

    async def aclose(self) -> None:
        """Close the connection unless the body was read to its end (then it is reused)."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class HttpClientPool:
    """Keeps connections to providers open between executions; closed once at shutdown.

    The session is made lazily because aiohttp binds it to the running event loop.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=1000, ttl_dns_cache=60)
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # proxies come from llmrelay's settings, never the environment
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
        try:
            async with self._pool.session().post(
                url,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as response:
                if response.content_length is not None and response.content_length > limit:
                    raise _too_large(limit)
                data = bytearray()
                async for chunk in response.content.iter_any():
                    data.extend(chunk)
                    if len(data) > limit:
                        raise _too_large(limit)
                return HttpResponse(response.status, response.headers, bytes(data))
        except _ERRORS as exc:
            raise _translate(exc, timeout_s, url) from None

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpStream:
        """POST and return once the response head arrives; the caller must ``aclose`` it.

        ``timeout_s`` bounds the wait for the head and each gap between chunks, not the whole
        stream: a long answer that keeps arriving is not cut off.
        """
        self._check_host(url)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        try:
            response = await self._pool.session().post(
                url, data=body, headers=dict(headers), timeout=timeout, allow_redirects=False
            )
        except _ERRORS as exc:
            raise _translate(exc, timeout_s, url) from None
        return HttpStream(response, timeout_s, url)


__all__ = ["HttpClientPool", "HttpResponse", "HttpStream", "OutboundHttp"]
