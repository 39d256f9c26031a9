"""Pooled outbound HTTP clients and the handle connector types send requests through.

Requests that go straight to a provider use llmrelay's own kept-alive HTTP/1.1 connections
(``connections.py``: a third of aiohttp's CPU per request, on the event loop that limits the
relay's throughput). Requests through a proxy use aiohttp, not httpx: httpx cost 1.7 ms a request
against aiohttp's 0.4 ms (measured with ``bench/overhead.py``'s upstream, 1,000 sequential
requests). Neither's exceptions leave: callers see ``TransportError`` with the Node/axios error
code and wording Kibana users know (``failures.py``).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from abc import ABC, abstractmethod
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from llmrelay.errors import TransportError
from llmrelay.jsontext import loads
from llmrelay.transport import connections
from llmrelay.transport.connections import Origin, OriginPool, RequestTarget, request_head
from llmrelay.transport.decoding import ExpansionLimit
from llmrelay.transport.failures import ERRORS, too_large, translate
from llmrelay.transport.policy import DIRECT, NetworkPolicy, ProxyRoute, Route
from llmrelay.transport.tls import DEFAULT_TLS, TlsSettings, build_ssl_context


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


class HttpStream(ABC):
    """An open streamed response; iterate for the body's bytes exactly as they arrive."""

    status: int
    headers: Mapping[str, str]

    def __init__(self, on_close: Callable[[], None] | None) -> None:
        self._on_close = on_close

    @property
    def reason(self) -> str:
        return reason_phrase(self.status)

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def read_all(self, limit_bytes: int) -> HttpResponse:
        """Read what is left; refuses more than ``limit_bytes``, like a non-streamed call."""
        body = bytearray()
        try:
            async for chunk in self:
                body.extend(chunk)
                if len(body) > limit_bytes:
                    raise too_large(limit_bytes)
        finally:
            await self.aclose()
        return HttpResponse(self.status, self.headers, bytes(body))

    async def aclose(self) -> None:
        """Close the connection unless the body was read to its end (then it is reused)."""
        self._close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    @abstractmethod
    def _close(self) -> None: ...


class _ConnectionStream(HttpStream):
    """A stream read from one of llmrelay's own connections (a direct route)."""

    def __init__(self, stream: connections.Stream, on_close: Callable[[], None] | None) -> None:
        super().__init__(on_close)
        self._stream = stream
        self.status = stream.status
        self.headers = stream.headers

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()

    def _close(self) -> None:
        self._stream.aclose()


class _AiohttpStream(HttpStream):
    """A stream read through aiohttp (a route through a proxy)."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        timeout_s: float,
        url: str,
        expansion: ExpansionLimit,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(on_close)
        self._url = url
        self._response = response
        self._timeout_s = timeout_s
        self._expansion = expansion if "content-encoding" in response.headers else None
        self.status = response.status
        self.headers = response.headers

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """aiohttp decodes gzip in bounded pieces; the decoded bytes are held to the same ratio
        to the compressed bytes it received as on a direct route."""
        content = self._response.content
        expansion = self._expansion
        decoded = 0
        try:
            async for chunk in content.iter_any():
                if expansion is not None:
                    decoded += len(chunk)
                    expansion.check(decoded, content.total_raw_bytes)
                yield chunk
        except ERRORS as exc:
            raise translate(exc, self._timeout_s, self._url) from None

    def _close(self) -> None:
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


_POOL_LIMITS: dict[str, Any] = {"limit": 1000, "ttl_dns_cache": 60}


class _HttpsProxyConnector(aiohttp.TCPConnector):
    """Checks an https proxy's certificate with the proxy's TLS settings.

    aiohttp opens the connection to the proxy with the *target's* TLS context; this overrides
    the one hook where the context is chosen, for requests addressed to the proxy itself (the
    proxy request aiohttp builds, and the ``CONNECT``). Guarded by the https-proxy tests.
    """

    def __init__(self, *, proxy_url: str, proxy_ssl: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(proxy_url)
        self._proxy_address = (parts.hostname, parts.port or 443)
        self._proxy_ssl = proxy_ssl

    def _get_ssl_context(self, req: aiohttp.ClientRequest) -> ssl.SSLContext | None:
        if req.proxy is None and (req.url.host, req.url.port) == self._proxy_address:
            return self._proxy_ssl
        return super()._get_ssl_context(req)


class DirectRoute:
    """The connections of one route without a proxy: one TLS context, a pool per origin."""

    def __init__(self, tls: TlsSettings, idle_timeout_s: float = connections.KEEPALIVE_S) -> None:
        self._ssl = build_ssl_context(tls)
        self._idle_timeout_s = idle_timeout_s
        self._pools: dict[Origin, OriginPool] = {}
        self.closed = False

    def pool(self, origin: Origin) -> OriginPool:
        pool = self._pools.get(origin)
        if pool is None:
            pool = OriginPool(origin, self._ssl, keepalive_s=self._idle_timeout_s)
            self._pools[origin] = pool
        return pool

    async def close(self) -> None:
        self.closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


RouteClient = DirectRoute | aiohttp.ClientSession
"""What carries a route's requests: llmrelay's own connections, or aiohttp through a proxy."""

MAX_TARGETS = 1024


class HttpClientPool:
    """Keeps connections to providers open between executions; closed once at shutdown.

    One client per route (proxy, TLS settings): connections made with one connector's client
    certificate are never reused for another's. The direct route with default TLS, by far the
    most common, has its own attribute so the hot path costs no lookup or bookkeeping. Other
    routes are counted while in use and the least recently used idle ones are closed beyond
    ``max_routes`` (a replaced client certificate leaves its old route behind); a route in use
    is never closed, so the pool may grow past the limit while every route is busy. Clients
    are made lazily because they bind to the running event loop.
    """

    def __init__(
        self, max_routes: int = 64, *, idle_timeout_s: float = connections.KEEPALIVE_S
    ) -> None:
        self._idle_timeout_s = idle_timeout_s
        self._direct: DirectRoute | None = None
        self._clients: OrderedDict[Route, RouteClient] = OrderedDict()
        self._busy: Counter[Route] = Counter()
        self._closing: set[asyncio.Task[None]] = set()
        self._max_routes = max_routes
        self._targets: dict[str, RequestTarget] = {}

    def target(self, url: str) -> RequestTarget:
        """``url`` parsed for the wire, remembered (connectors send to a handful of URLs)."""
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()
            target = self._targets[url] = RequestTarget.of(url)
        return target

    def direct(self) -> DirectRoute:
        """The direct route with default TLS."""
        if self._direct is None:
            self._direct = DirectRoute(DEFAULT_TLS, self._idle_timeout_s)
        return self._direct

    @property
    def routes(self) -> int:
        """How many other routes have an open client."""
        return len(self._clients)

    def acquire(self, route: Route) -> RouteClient:
        """The client of ``route``, marked in use until ``release(route)``."""
        client = self._clients.get(route)
        if client is None:
            client = self._clients[route] = _client(route, self._idle_timeout_s)
        else:
            self._clients.move_to_end(route)
        self._busy[route] += 1
        self._evict()
        return client

    def release(self, route: Route) -> None:
        self._busy[route] -= 1
        if self._busy[route] <= 0:
            del self._busy[route]

    def _evict(self) -> None:
        while len(self._clients) > self._max_routes:
            idle = next((r for r in self._clients if r not in self._busy), None)
            if idle is None:
                return
            task = asyncio.get_running_loop().create_task(self._clients.pop(idle).close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *([self._direct] if self._direct else [])]
        self._direct = None
        self._clients.clear()
        for client in clients:
            await client.close()
        if self._closing:
            await asyncio.gather(*self._closing)


def _client(route: Route, idle_timeout_s: float) -> RouteClient:
    """aiohttp closes a connection idle past ``keepalive_timeout`` within twice that time (its
    clean-up runs every ``keepalive_timeout``); it does not read ``Keep-Alive: timeout=``."""
    if route.proxy is None:
        return DirectRoute(route.tls, idle_timeout_s)
    context = build_ssl_context(route.tls)
    if route.proxy_tls is not None:
        connector: aiohttp.TCPConnector = _HttpsProxyConnector(
            proxy_url=route.proxy.url,
            proxy_ssl=build_ssl_context(route.proxy_tls),
            ssl=context,
            keepalive_timeout=idle_timeout_s,
            **_POOL_LIMITS,
        )
    else:
        connector = aiohttp.TCPConnector(
            ssl=context, keepalive_timeout=idle_timeout_s, **_POOL_LIMITS
        )
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,  # proxies come from llmrelay's settings, never the environment
        skip_auto_headers=("User-Agent",),
    )


@dataclass(frozen=True)
class _ThroughProxy:
    """A request's way through a proxy: its route's aiohttp session and aiohttp's proxy
    arguments.

    aiohttp sends ``proxy_headers`` only on the ``CONNECT`` of an https target, so for an http
    target the proxy's headers (credentials included) go with the request itself, which is
    what the proxy receives.
    """

    session: aiohttp.ClientSession
    proxy: str
    proxy_headers: dict[str, str] | None = None
    request_headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, session: aiohttp.ClientSession, proxy: ProxyRoute, url: str) -> _ThroughProxy:
        headers = dict(proxy.headers)
        if proxy.credentials is not None:
            token = base64.b64encode(":".join(proxy.credentials).encode()).decode()
            headers["Proxy-Authorization"] = f"Basic {token}"
        if url.startswith("https:"):
            # a fresh dict each time: aiohttp writes the Host header into the one it gets
            return cls(session, proxy.url, headers or None)
        return cls(session, proxy.url, None, tuple(headers.items()))

    def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: aiohttp.ClientTimeout
    ) -> Any:
        """``session.post`` through the proxy (awaitable, or an async context manager)."""
        merged = dict(headers)
        merged.update(self.request_headers)
        return self.session.post(
            url,
            data=body,
            headers=merged,
            timeout=timeout,
            allow_redirects=False,
            proxy=self.proxy,
            proxy_headers=self.proxy_headers,
        )


class OutboundHttp:
    """The HTTP handle a connector type receives: bound to the network policy.

    ``tls`` is a connector's own TLS material (PKI): its verification mode, CA and client
    certificate; the policy's ``customHostSettings`` still win for their hosts, as in Kibana.
    """

    def __init__(self, pool: HttpClientPool, policy: NetworkPolicy) -> None:
        self._pool = pool
        self.policy = policy

    def _check_host(self, url: str) -> None:
        if not self.policy.is_host_allowed(url):
            raise TransportError(NetworkPolicy.allow_list_message(url), code="ERR_HOST_NOT_ALLOWED")

    def _client(
        self, url: str, tls: TlsSettings | None
    ) -> tuple[DirectRoute | _ThroughProxy, Route | None]:
        """How the request leaves, and the route to release afterwards (None: nothing to)."""
        if tls is None and self.policy.is_plain:
            return self._pool.direct(), None
        route = self.policy.route(
            url,
            verification_mode=tls.verification_mode if tls else None,
            ca_pem=tls.ca_pem if tls else None,
            client=tls.client if tls else None,
        )
        if route is DIRECT:
            return self._pool.direct(), None
        try:
            client = self._pool.acquire(route)
        except (ssl.SSLError, ValueError) as exc:
            raise TransportError(f"unusable TLS material: {exc}", code="ERR_TLS_MATERIAL") from None
        if isinstance(client, DirectRoute):
            return client, route
        assert route.proxy is not None  # a route without one has a DirectRoute
        return _ThroughProxy.of(client, route.proxy, url), route

    def _direct_request(
        self, route: DirectRoute, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[OriginPool, bytes]:
        """The pool of ``url``'s origin on ``route``, and the request's head."""
        target = self._pool.target(url)
        return route.pool(target.origin), request_head(target, headers, len(body))

    async def post(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float,
        tls: TlsSettings | None = None,
    ) -> HttpResponse:
        """POST and read the whole answer, refusing one larger than the policy allows."""
        self._check_host(url)
        limit = self.policy.max_response_content_length_bytes
        way, route = self._client(url, tls)
        try:
            if isinstance(way, DirectRoute):
                pool, head = self._direct_request(way, url, headers, body)
                answer = await connections.fetch(
                    pool, head, body, timeout_s=timeout_s, limit_bytes=limit
                )
                return HttpResponse(answer.status, answer.headers, answer.body)
            return await self._post_through_proxy(way, url, headers, body, timeout_s)
        finally:
            if route is not None:
                self._pool.release(route)

    async def _post_through_proxy(
        self,
        way: _ThroughProxy,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float,
    ) -> HttpResponse:
        limit = self.policy.max_response_content_length_bytes
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with way.post(url, headers, body, timeout) as response:
                if response.content_length is not None and response.content_length > limit:
                    raise too_large(limit)
                data = bytearray()
                async for chunk in response.content.iter_any():
                    data.extend(chunk)
                    if len(data) > limit:
                        raise too_large(limit)
                return HttpResponse(response.status, response.headers, bytes(data))
        except ERRORS as exc:
            raise translate(exc, timeout_s, url) from None

    async def open_stream(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float,
        tls: TlsSettings | None = None,
    ) -> HttpStream:
        """POST and return once the response head arrives; the caller must ``aclose`` it.

        ``timeout_s`` bounds getting a connection (through a proxy too), the wait for the head
        and each gap between chunks, not the whole stream: a long answer that keeps arriving is
        not cut off.
        """
        self._check_host(url)
        way, route = self._client(url, tls)
        release = None if route is None else partial(self._pool.release, route)
        try:
            if isinstance(way, DirectRoute):
                pool, head = self._direct_request(way, url, headers, body)
                stream = await connections.open_stream(
                    pool, head, body, timeout_s=timeout_s, expansion=self.policy.stream_expansion
                )
                return _ConnectionStream(stream, release)
            return await self._stream_through_proxy(way, url, headers, body, timeout_s, release)
        except BaseException:
            if release is not None:
                release()
            raise

    async def _stream_through_proxy(
        self,
        way: _ThroughProxy,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout_s: float,
        release: Callable[[], None] | None,
    ) -> HttpStream:
        # ``connect`` also bounds a proxy's CONNECT answer and the TLS handshake behind it
        timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )
        try:
            response = await way.post(url, headers, body, timeout)
        except ERRORS as exc:
            raise translate(exc, timeout_s, url) from None
        return _AiohttpStream(response, timeout_s, url, self.policy.stream_expansion, release)


__all__ = ["DirectRoute", "HttpClientPool", "HttpResponse", "HttpStream", "OutboundHttp"]
