"""A real OpenAI-compatible HTTP server on a loopback port: the upstream LLM of tests and benches.

llmrelay's outbound path (pooled clients, SSE relaying, timeouts, cancelling the upstream request
when the caller leaves) is only exercised honestly over a socket, so this is no mock transport.
``UpstreamServer`` runs uvicorn in a thread; ``python tests/upstream.py`` runs the same app as a
process (uvloop + httptools), the baseline of the throughput benchmark.

Answers are deterministic so tests can compute what to expect (``answer_text``, ``usage_for``):

* Answer text: ``"Hello! You said: "`` + the text of the last ``user`` message, whitespace collapsed
  to single spaces so that the streamed deltas (one word each) join back to exactly the non-streamed
  content. A message's text is its string ``content``, or the ``text`` of its content parts joined
  by spaces.
* Usage: ``prompt_tokens`` = whitespace-separated words in the text of all messages,
  ``completion_tokens`` = words in the answer, ``total_tokens`` = their sum.
* Ids are ``chatcmpl-00000001``, numbered per server from 1; ``model`` is the body's ``model``
  (``gpt-4.1`` if absent) or, on the Azure route, the deployment name.
* A stream is ``data: <json>\\n\\n`` events, each its own body chunk: a role chunk, one chunk per
  word, a ``finish_reason: "stop"`` chunk, a ``choices: []`` usage chunk only when
  ``stream_options.include_usage`` is true (then the other chunks carry ``"usage": null``, as OpenAI
  does), and ``data: [DONE]``.

Faults are queued with ``UpstreamServer.queue``: each chat-completions request consumes one
behaviour (FIFO) before anything else is checked. ``Fail`` and ``Respond`` replace the whole answer
(no auth, no validation); ``Slow``, ``StreamDelay``, ``CutStream`` and ``Rechunk`` alter the
normal answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qsl

import uvicorn
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_API_KEY = "sk-test"
DEFAULT_MODEL = "gpt-4.1"
MODELS = ("gpt-4.1", "gpt-4o-mini")
# What a strict pre-2024 server accepts: newer keys such as stream_options are refused.
STRICT_FIELDS = frozenset(
    {"model", "messages", "stream", "temperature", "top_p", "n", "stop", "max_tokens", "user"}
    | {"presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed"}
    | {"response_format", "tools", "tool_choice", "functions", "function_call"}
)
_AZURE_ROUTE = re.compile(r"/openai/deployments/([^/]+)/chat/completions")
_SSE_HEADERS = ((b"content-type", b"text/event-stream; charset=utf-8"),)
_AZURE_NOT_FOUND = b'{"error":{"code":"404","message":"Resource not found"}}'
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header."
)
_BAD_JSON = "We could not parse the JSON body of your request. The API expects a JSON payload."


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; ``json`` is None when the body is not valid JSON."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased; a repeated header's values joined with ", "
    body: bytes
    json: object | None


@dataclass(frozen=True)
class Fail:
    """Answer ``status``; ``body`` None → OpenAI error body with the reason phrase; str → as-is."""

    status: int
    body: object | str | None = None
    headers: Mapping[str, str] | None = None

    @classmethod
    def rate_limited(cls, retry_after_s: int = 7) -> Fail:
        """OpenAI's 429 with ``Retry-After``, as sent when a tokens-per-minute limit is hit."""
        message = f"Rate limit reached for {DEFAULT_MODEL} on tokens per min (TPM): Limit 30000, "
        message += f"Used 30000, Requested 100. Please try again in {retry_after_s}s."
        body = _error_body(message, "rate_limit_exceeded", None, "tokens")
        return cls(429, body, {"Retry-After": str(retry_after_s)})


@dataclass(frozen=True)
class Respond:
    """Answer exactly this (JSON-encoded unless str/bytes), e.g. a completion missing ``usage``."""

    body: object
    status: int = 200
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Slow:
    """Wait ``delay_s`` before answering (ends early if the client leaves or the server stops)."""

    delay_s: float


@dataclass(frozen=True)
class StreamDelay:
    """Stream normally but sleep ``delay_s`` between events: relaying as they arrive shows."""

    delay_s: float


@dataclass(frozen=True)
class CutStream:
    """Send ``after_events`` events (never ``[DONE]``), then close the connection mid-body.

    A request answered without a stream (not streamed, or refused) gets its connection closed with
    no response at all.
    """

    after_events: int


@dataclass(frozen=True)
class Rechunk:
    """Stream normally, but cut the bytes into ``size``-byte pieces sent one by one, ignoring
    event boundaries (as TCP may); ``crlf`` ends lines with CRLF instead of LF."""

    size: int
    crlf: bool = False


Behaviour = Fail | Respond | Slow | StreamDelay | CutStream | Rechunk


def _text_of(content: object) -> str:
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return content if isinstance(content, str) else ""


def answer_text(messages: Sequence[object]) -> str:
    """``Hello! You said: <last user message, whitespace collapsed>``."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    said = _text_of(users[-1].get("content")).split() if users else []
    return " ".join(["Hello!", "You", "said:", *said])


def usage_for(messages: Sequence[object]) -> dict[str, int]:
    """Words stand in for tokens: all message texts (prompt) and the answer (completion)."""
    texts = [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    prompt, completion = sum(len(t.split()) for t in texts), len(answer_text(messages).split())
    return dict(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _error_body(message: str, code: str | None, param: str | None, kind: str) -> object:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _error(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(_error_body(message, code, param, kind), status)


def _raw(status: int, body: object, headers: Mapping[str, str] | None) -> Response:
    if isinstance(body, str | bytes):
        return Response(body, status, dict(headers or {}), media_type="application/json")
    return JSONResponse(body, status, dict(headers or {}))


def _mask(key: str) -> str:
    """Like OpenAI, never echo a whole key: a relay test must not find the secret in an answer."""
    return key[:3] + "*" * (len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)


def _stream_events(
    head: dict[str, object], answer: str, usage: dict[str, int], with_usage: bool
) -> list[bytes]:
    """OpenAI's chunk sequence; with usage requested the other chunks carry ``"usage": null``."""
    head = {**head, "object": "chat.completion.chunk"}
    tail = {"usage": None} if with_usage else {}
    words = answer.split(" ")
    deltas: list[tuple[dict[str, str], str | None]] = [({"role": "assistant", "content": ""}, None)]
    deltas += [({"content": w + " "}, None) for w in words[:-1]]
    deltas += [({"content": words[-1]}, None), ({}, "stop")]
    chunks = [
        {**head, "choices": [{"index": 0, "delta": d, "finish_reason": f}], **tail}
        for d, f in deltas
    ]
    if with_usage:
        chunks.append({**head, "choices": [], "usage": usage})
    events = [b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n" for c in chunks]
    return [*events, b"data: [DONE]\n\n"]


def _recorded(scope: Scope, body: bytes) -> RecordedRequest:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    try:
        parsed: object | None = json.loads(body)
    except ValueError:
        parsed = None
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    return RecordedRequest(scope["method"], scope["path"], query, headers, body, parsed)


class _State:
    """What the test thread and the server thread share, behind one lock."""

    def __init__(self, record: bool) -> None:
        self.record = record
        self.lock = threading.Condition()  # notified when a disconnect is counted
        self.requests: list[RecordedRequest] = []
        self.behaviours: deque[Behaviour] = deque()
        self.disconnects = 0
        self.ids = itertools.count(1)

    def add(self, request: RecordedRequest) -> None:
        if self.record:
            with self.lock:
                self.requests.append(request)

    def next_behaviour(self) -> Behaviour | None:
        with self.lock:
            return self.behaviours.popleft() if self.behaviours else None

    def count_disconnect(self) -> None:
        with self.lock:
            self.disconnects += 1
            self.lock.notify_all()


@dataclass
class _Plan:
    """What to send: a whole response, or SSE events, as shaped by the queued behaviour."""

    reply: Response | None = None
    events: list[bytes] | None = None
    delay_s: float = 0.0
    event_delay_s: float = 0.0
    cut_after: int | None = None  # close the connection after this many events (0: no response)


async def _client_gone(receive: Receive) -> None:
    """Return on ``http.disconnect``; the request body has been read, so nothing else comes."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _UpstreamApp:
    """The ASGI app; three routes are matched by hand rather than through a router."""

    def __init__(
        self,
        state: _State,
        api_key: str | None,
        strict: bool,
        delay_s: float,
        strict_status: int = 400,
    ) -> None:
        self.state = state
        self.api_key = api_key
        self.strict = strict
        self.strict_status = strict_status
        self.stream_delay_s = delay_s
        self.transports: dict[tuple[str, int], asyncio.Transport] = {}
        self.stopping = asyncio.Event()

    def protocol_class(self) -> type[asyncio.Protocol]:
        """uvicorn's HTTP protocol, noting each connection's transport for ``CutStream`` to close.

        ASGI cannot abort a connection; a subclass keyed by the peer address (the scope's
        ``client``) is the smallest hook, and it relies only on asyncio's Protocol contract.
        """
        transports = self.transports

        class _TrackingProtocol(HttpToolsProtocol):
            peer: tuple[str, int] | None = None

            def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
                super().connection_made(transport)
                info = transport.get_extra_info("peername")
                self.peer = (str(info[0]), int(info[1]))
                transports[self.peer] = transport

            def connection_lost(self, exc: Exception | None) -> None:
                transports.pop(self.peer or ("", 0), None)
                super().connection_lost(exc)

        return _TrackingProtocol

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = _recorded(scope, bytes(body))
        self.state.add(request)
        plan = self._plan(request)
        if plan.reply is not None and plan.cut_after is None and plan.delay_s <= 0:
            await plan.reply(scope, receive, send)  # the fast path: no need to watch the client
            return
        gone = asyncio.create_task(_client_gone(receive))
        try:
            await self._execute(plan, scope, receive, send, gone)
        finally:
            gone.cancel()

    def _plan(self, request: RecordedRequest) -> _Plan:
        if request.path == "/v1/models" and request.method == "GET":
            models = [
                {"id": m, "object": "model", "created": 0, "owned_by": "system"} for m in MODELS
            ]
            listing = JSONResponse({"object": "list", "data": models})
            return _Plan(self._refuse(request, azure=False) or listing)
        azure = _AZURE_ROUTE.fullmatch(request.path)
        if request.method != "POST" or not (azure or request.path == "/v1/chat/completions"):
            return _Plan(_error(404, f"Invalid URL ({request.method} {request.path})"))
        behaviour = self.state.next_behaviour()
        if isinstance(behaviour, Fail | Respond):
            body = behaviour.body
            if body is None and isinstance(behaviour, Fail):
                body = _error(behaviour.status, HTTPStatus(behaviour.status).phrase).body
            return _Plan(_raw(behaviour.status, body, behaviour.headers))
        plan = self._answer(request, azure.group(1) if azure else None)
        if isinstance(behaviour, Slow):
            plan.delay_s = behaviour.delay_s
        elif isinstance(behaviour, StreamDelay):
            plan.event_delay_s = behaviour.delay_s
        elif isinstance(behaviour, Rechunk) and plan.events is not None:
            whole = b"".join(plan.events)
            if behaviour.crlf:
                whole = whole.replace(b"\n", b"\r\n")
            size = max(behaviour.size, 1)
            plan.events = [whole[i : i + size] for i in range(0, len(whole), size)]
        elif isinstance(behaviour, CutStream):
            last = len(plan.events) - 1 if plan.events else 0  # never [DONE]
            plan.cut_after = min(max(behaviour.after_events, 0), last)
        return plan

    def _refuse(self, request: RecordedRequest, azure: bool) -> Response | None:
        """401 unless the key is in the provider's header: ``api-key`` on Azure, else Bearer."""
        if self.api_key is None:
            return None
        if azure:
            given: str | None = request.headers.get("api-key")
        else:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            given = given.strip() if scheme.lower() == "bearer" else None
        if given == self.api_key:
            return None
        message = f"Incorrect API key provided: {_mask(given)}." if given else _NO_KEY
        return _error(401, message, "invalid_api_key")

    def _answer(self, request: RecordedRequest, deployment: str | None) -> _Plan:
        if deployment is not None and "api-version" not in request.query:
            return _Plan(_raw(404, _AZURE_NOT_FOUND, None))
        refused = self._refuse(request, azure=deployment is not None)
        body = request.json
        if refused is not None or not isinstance(body, dict):
            return _Plan(refused or _error(400, _BAD_JSON))
        unknown = sorted(set(body) - STRICT_FIELDS) if self.strict else []
        if unknown and self.strict_status == 422:  # FastAPI/pydantic servers (extra="forbid")
            detail = [
                {
                    "type": "extra_forbidden",
                    "loc": ["body", name],
                    "msg": "Extra inputs are not permitted",
                    "input": body[name],
                }
                for name in unknown
            ]
            return _Plan(JSONResponse({"detail": detail}, 422))
        if unknown:
            s = "s" if len(unknown) > 1 else ""
            message = f"Unrecognized request argument{s} supplied: {', '.join(unknown)}"
            return _Plan(_error(400, message))
        messages = body.get("messages")
        if messages is None:
            missing = "Missing required parameter: 'messages'."
            return _Plan(_error(400, missing, "missing_required_parameter", "messages"))
        if not isinstance(messages, list) or not messages:
            invalid = "Invalid 'messages': expected a non-empty array."
            return _Plan(_error(400, invalid, None, "messages"))
        model = body.get("model")
        head: dict[str, object] = {
            "id": f"chatcmpl-{next(self.state.ids):08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": deployment or (model if isinstance(model, str) else DEFAULT_MODEL),
        }
        answer, usage = answer_text(messages), usage_for(messages)
        if body.get("stream") is not True:
            said = {"role": "assistant", "content": answer}
            choice = {"index": 0, "message": said, "finish_reason": "stop"}
            return _Plan(JSONResponse({**head, "choices": [choice], "usage": usage}))
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        events = _stream_events(head, answer, usage, with_usage)
        return _Plan(events=events, event_delay_s=self.stream_delay_s)

    async def _execute(
        self, plan: _Plan, scope: Scope, receive: Receive, send: Send, gone: asyncio.Task[None]
    ) -> None:
        if not await self._pause(plan.delay_s, gone):
            self.state.count_disconnect()
        elif plan.events is None:
            if plan.cut_after is not None:
                await self._cut(scope, gone)
            elif plan.reply is not None:
                await plan.reply(scope, receive, send)
        else:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            limit = len(plan.events) if plan.cut_after is None else plan.cut_after
            for index, event in enumerate(plan.events[:limit]):
                if not await self._pause(plan.event_delay_s if index else 0.0, gone):
                    self.state.count_disconnect()
                    return
                await send({"type": "http.response.body", "body": event, "more_body": True})
            if plan.cut_after is not None:
                await self._cut(scope, gone)
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pause(self, delay_s: float, gone: asyncio.Task[None]) -> bool:
        """Sleep up to ``delay_s``; False if the client has left. A stopping server skips sleeps."""
        if delay_s > 0 and not gone.done() and not self.stopping.is_set():
            stopping = asyncio.create_task(self.stopping.wait())
            try:
                await asyncio.wait((gone, stopping), timeout=delay_s, return_when="FIRST_COMPLETED")
            finally:
                stopping.cancel()
        return not gone.done()

    async def _cut(self, scope: Scope, gone: asyncio.Task[None]) -> None:
        """Close this request's connection, then wait until uvicorn has seen it go.

        Returning sooner would make uvicorn log "returned without completing response" or send 500.
        """
        client = scope.get("client")
        transport = self.transports.get((client[0], client[1])) if client else None
        if transport is None:
            raise RuntimeError(f"CutStream: no connection known for client {client}")
        transport.close()
        await gone


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket whose proto is IPPROTO_TCP (``socket.create_server`` leaves it 0).

    asyncio sets TCP_NODELAY on accepted sockets only when the proto says TCP; without it Nagle
    holds a small SSE event back until the client's delayed ACK, ~40 ms on a reused connection.
    """
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)  # port 0 cannot be taken; a fixed one failing ends the process anyway
    sock.listen(2048)
    return sock


def _uvicorn(app: _UpstreamApp, fast: bool) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        loop="uvloop" if fast else "asyncio",
        http=app.protocol_class(),
        ws="none",  # importing the websockets implementations may warn, and they are not needed
        lifespan="off",
        proxy_headers=False,  # the scope's client must be the real peer: CutStream looks it up
        access_log=False,
        log_level="warning",
        log_config=uvicorn.config.LOGGING_CONFIG if fast else None,  # tests: leave it to pytest
    )
    return uvicorn.Server(config)


class UpstreamServer:
    """The upstream LLM on ``127.0.0.1:<random port>``, served from a background thread.

    ``with UpstreamServer() as upstream:`` (or ``async with``) returns once it accepts connections;
    leaving the block stops it, cutting any sleep short. Each instance has its own state.
    """

    def __init__(
        self,
        *,
        api_key: str | None = DEFAULT_API_KEY,
        reject_unknown_fields: bool = False,
        unknown_fields_status: int = 400,
        stream_delay_s: float = 0.0,
    ) -> None:
        """``reject_unknown_fields``: refuse bodies with keys outside ``STRICT_FIELDS`` (such as
        ``stream_options``), with OpenAI's 400 ``Unrecognized request argument supplied: ...``
        or, with ``unknown_fields_status=422``, a FastAPI server's ``extra_forbidden`` detail."""
        self._state = _State(record=True)
        self._app = _UpstreamApp(
            self._state, api_key, reject_unknown_fields, stream_delay_s, unknown_fields_status
        )
        self._server = _uvicorn(self._app, fast=False)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the upstream server is not started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def chat_completions_url(self) -> str:
        """The ``apiUrl`` of an OpenAI or Other connector pointed at this server."""
        return f"{self.base_url}/v1/chat/completions"

    def azure_url(self, deployment: str = "gpt-4o", api_version: str = "2024-10-21") -> str:
        """The ``apiUrl`` of an Azure OpenAI connector pointed at this server."""
        path = f"/openai/deployments/{deployment}/chat/completions"
        return f"{self.base_url}{path}?api-version={api_version}"

    def start(self) -> None:
        self._app.stopping = asyncio.Event()  # fresh per run: an event binds to the loop it served
        self._server = _uvicorn(self._app, fast=False)
        self._socket = _listen("127.0.0.1", 0)
        self._thread = threading.Thread(target=self._run, name=f"upstream-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the upstream server failed to start")
            time.sleep(0.002)

    def _run(self) -> None:
        async def serve(sock: socket.socket) -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[sock])

        assert self._socket is not None
        asyncio.run(serve(self._socket))

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            if self._loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop has closed already
                    self._loop.call_soon_threadsafe(self._app.stopping.set)
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                raise RuntimeError("the upstream server did not stop within 10 s")
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> UpstreamServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> UpstreamServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # In a thread: stopping waits for open streams, which the caller's loop may be reading.
        await asyncio.to_thread(self.stop)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._state.lock:
            if not self._state.requests:
                raise LookupError("the upstream server has received no request")
            return self._state.requests[-1]

    def queue(self, *behaviours: Behaviour) -> None:
        """Shape the next chat-completions requests, one behaviour per request, in order."""
        with self._state.lock:
            self._state.behaviours.extend(behaviours)

    def reset(self) -> None:
        """Forget queued behaviours, recorded requests and disconnects (ids keep counting)."""
        with self._state.lock:
            self._state.behaviours.clear()
            self._state.requests.clear()
            self._state.disconnects = 0

    @property
    def disconnects(self) -> int:
        """Requests whose client left before the response was complete.

        Noticed while the server waits: during ``Slow`` or between stream events (``StreamDelay``,
        ``stream_delay_s``); an undelayed stream is sent before a departure could be seen.
        """
        with self._state.lock:
            return self._state.disconnects

    def wait_for_disconnects(self, count: int = 1, timeout_s: float = 5.0) -> bool:
        """Block until ``disconnects >= count``; False on timeout.

        Not from a loop that runs the client or the relay under test: use the async variant.
        """
        with self._state.lock:
            return self._state.lock.wait_for(lambda: self._state.disconnects >= count, timeout_s)

    async def wait_for_disconnects_async(self, count: int = 1, timeout_s: float = 5.0) -> bool:
        """Like ``wait_for_disconnects``, but polling so that the calling loop keeps running."""
        deadline = time.monotonic() + timeout_s
        while self.disconnects < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return True


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until killed; print ``listening on <url>`` once connections are accepted."""
    import uvloop  # only the standalone server needs it

    parser = argparse.ArgumentParser(description="OpenAI-compatible test upstream server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--no-auth", action="store_true", help="accept requests without a key")
    args = parser.parse_args(argv)
    # No recording: a benchmark sends millions of requests and nobody reads them back.
    app = _UpstreamApp(_State(record=False), None if args.no_auth else args.api_key, False, 0.0)
    server = _uvicorn(app, fast=True)
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if server.started:
            print(f"listening on {url}", flush=True)
        await task

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve())


if __name__ == "__main__":
    main()
