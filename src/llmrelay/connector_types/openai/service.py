"""The ``.gen-ai`` sub-actions: run, test, stream, invokeAI and invokeStream."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, MutableSet

from pydantic import ValidationError

from llmrelay.connector_types.openai.estimate import (
    Completion,
    invoke_stream_estimate,
    stream_estimate,
)
from llmrelay.connector_types.openai.messages import (
    answer_json,
    http_error,
    redirected,
    response_validation_failed,
    transport_error,
)
from llmrelay.connector_types.openai.providers import (
    PROVIDERS,
    ProviderRules,
    ShapedBody,
    refuses_stream_options,
    shape_request,
    without_usage_request,
)
from llmrelay.connector_types.openai.schemas import (
    DEFAULT_TIMEOUT_S,
    IN_PROCESS_ONLY_PARAMS,
    DashboardParams,
    InvokeAIParams,
    Provider,
    RunActionResponse,
    RunParams,
    StreamParams,
    conforms_to_run_response,
)
from llmrelay.connector_types.openai.usage import ChatStreamReader, answer_details
from llmrelay.connector_types.openai.validation import decoded_pem
from llmrelay.connectors import (
    ByteStream,
    ConnectorContext,
    JsonObject,
    SubActionService,
    TokenCounter,
    TokenUsage,
    sub_action,
)
from llmrelay.connectors.schema import first_error
from llmrelay.errors import BadRequestError, TransportError
from llmrelay.jsontext import LoneSurrogateError, RefusedJsonError, dumps
from llmrelay.transport import (
    ClientCertificate,
    HttpResponse,
    HttpStream,
    NetworkPolicy,
    TlsSettings,
)

EstimateFactory = Callable[[Completion], Callable[[], TokenUsage]]

UNRECOGNIZED_FORMAT = (
    "An error occurred sending your message. \n\n"
    "API Error: The response from OpenAI was in an unrecognized format."
)
ERROR_BODY_LIMIT_BYTES = 64 * 1024
_REPEATED_SLASHES = re.compile(r"([^:]/)/+")


def normalise_url(url: str) -> str:
    """Kibana's request URL clean-up: one trailing slash dropped, doubled slashes collapsed."""
    if url.endswith("/"):
        url = url[:-1]
    first = url.find("//")
    if first == -1 or ((first == 0 or url[first - 1] == ":") and "//" not in url[first + 1 :]):
        return url  # only the scheme's "://": nothing to collapse, and no regex run per request
    return _REPEATED_SLASHES.sub(r"\1", url)


def _request_bytes(body: str) -> bytes:
    """The body as sent; text that is not Unicode (a lone surrogate) is the caller's mistake."""
    try:
        return (body or "{}").encode()
    except UnicodeEncodeError:
        raise _invalid_body(LoneSurrogateError()) from None


def _invalid_body(exc: ValueError) -> BadRequestError:
    """A body llmrelay cannot send: refused as OpenAI refuses invalid Unicode, before sending
    (the executor records it as a failed execution caused by the user)."""
    return BadRequestError(f"Request validation failed (Error: [body]: {exc})")


def _ms_to_s(timeout_ms: float | None) -> float | None:
    return None if timeout_ms is None else timeout_ms / 1000


class OpenAIService(SubActionService):
    def __init__(
        self,
        context: ConnectorContext,
        *,
        tokens: TokenCounter | None = None,
        refusing_stream_options: MutableSet[str] | None = None,
    ) -> None:
        """``refusing_stream_options``: URLs that refused ``stream_options`` before (shared by
        the type's services, so a strict server costs one refused request, not one per call)."""
        super().__init__(context)
        self.tokens = tokens
        self.refusing_stream_options = (
            refusing_stream_options if refusing_stream_options is not None else set()
        )
        config = context.config
        provider = str(config["apiProvider"])
        self.provider: Provider = provider  # type: ignore[assignment]
        self.rules: ProviderRules = PROVIDERS[self.provider]
        self.url = normalise_url(str(config["apiUrl"]))
        default_model = config.get("defaultModel")
        self.default_model = default_model if isinstance(default_model, str) else None
        self.tls = pki_tls(self.provider, config, context.secrets)

    # --- request plumbing -------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        """Config headers, then organisation headers, then auth, which overrides same names."""
        merged: dict[str, str] = {}

        def put(name: str, value: str) -> None:
            for existing in [k for k in merged if k.lower() == name.lower()]:
                del merged[existing]
            merged[name] = value

        headers = self.context.config.get("headers")
        if isinstance(headers, dict):
            for name, value in headers.items():
                put(str(name), str(value))
        if self.rules.sends_organization_headers:
            for key, header in (
                ("organizationId", "OpenAI-Organization"),
                ("projectId", "OpenAI-Project"),
            ):
                value = self.context.config.get(key)
                if isinstance(value, str):
                    put(header, value)
        for name, value in self.rules.auth_headers(self.context.secrets.get("apiKey", "")).items():
            put(name, value)
        put("content-type", "application/json")
        return merged

    def _body(self, body: str, *, stream: bool) -> ShapedBody:
        model = self.default_model if self.rules.injects_default_model else None
        try:
            return shape_request(
                self.rules,
                url=self.url,
                body=body,
                stream=stream,
                default_model=model,
                ask_usage=self.url not in self.refusing_stream_options,
            )
        except (LoneSurrogateError, RefusedJsonError) as exc:
            raise _invalid_body(exc) from None

    def _policy(self) -> NetworkPolicy:
        return self.context.http.policy

    async def _post(self, body: str, timeout_s: float) -> object:
        try:
            response = await self.context.http.post(
                self.url,
                headers=self._headers(),
                body=_request_bytes(body),
                timeout_s=timeout_s,
                tls=self.tls,
            )
        except TransportError as exc:
            raise transport_error(exc) from None
        if response.status >= 400:
            raise http_error(response)
        if response.status >= 300:
            raise redirected(response)
        return answer_json(response) if response.body else {}

    async def _send_stream(self, body: str, timeout_s: float) -> HttpStream | HttpResponse:
        """The provider's SSE stream, or its whole answer when it is not one."""
        try:
            upstream = await self.context.http.open_stream(
                self.url,
                headers=self._headers(),
                body=_request_bytes(body),
                timeout_s=timeout_s,
                tls=self.tls,
            )
            is_event_stream = upstream.headers.get("content-type", "").startswith(
                "text/event-stream"
            )
            if upstream.status < 300 and is_event_stream:
                return upstream
            return await upstream.read_all(self._policy().max_response_content_length_bytes)
        except TransportError as exc:
            raise transport_error(exc) from None

    async def _open_stream(
        self, shaped: ShapedBody, timeout_s: float, reader: ChatStreamReader
    ) -> JsonObject | ByteStream:
        """The provider's SSE stream; a provider that answers plain JSON gets its JSON relayed.

        A server that refuses the ``stream_options`` llmrelay added (400/422 naming it) is asked
        again once without it, and remembered.
        """
        upstream = await self._send_stream(shaped.text, timeout_s)
        if (
            shaped.asked_usage
            and isinstance(upstream, HttpResponse)
            and refuses_stream_options(upstream.status, upstream.body)
        ):
            self.refusing_stream_options.add(self.url)
            shaped = ShapedBody(without_usage_request(shaped.text), asked_usage=False)
            upstream = await self._send_stream(shaped.text, timeout_s)
        if isinstance(upstream, HttpStream):
            reader.withhold_usage = shaped.asked_usage
            return ByteStream(
                chunks=_relay(upstream, reader), aclose=upstream.aclose, details=reader.details
            )
        if upstream.status >= 400:
            raise http_error(upstream)
        if upstream.status >= 300:
            raise redirected(upstream)
        data = answer_json(upstream)
        if not isinstance(data, dict):
            raise response_validation_failed("expected a JSON object")
        return data

    @staticmethod
    def _validated(data: object) -> JsonObject:
        if conforms_to_run_response(data):
            assert isinstance(data, dict)
            return data
        try:
            RunActionResponse.model_validate(data)
        except ValidationError as exc:
            raise response_validation_failed(first_error(RunActionResponse, exc)) from None
        assert isinstance(data, dict)
        return data

    async def _run_api(self, body: str, timeout_ms: float | None) -> JsonObject:
        timeout_s = self._policy().effective_timeout_s(_ms_to_s(timeout_ms) or DEFAULT_TIMEOUT_S)
        return self._validated(await self._post(self._body(body, stream=False).text, timeout_s))

    async def _stream_api(
        self, body: str, *, stream: bool, timeout_ms: float | None, reader: ChatStreamReader
    ) -> JsonObject | ByteStream:
        timeout_s = self._policy().effective_timeout_s(_ms_to_s(timeout_ms))
        shaped = self._body(body, stream=stream)
        if not stream:
            return self._validated(await self._post(shaped.text, timeout_s))
        return await self._open_stream(shaped, timeout_s, reader)

    def _reader(
        self, params: StreamParams | InvokeAIParams, estimate: EstimateFactory | None
    ) -> ChatStreamReader:
        base = answer_details(self.context.config, params, None)
        return ChatStreamReader(base, withhold_usage=False, estimate=estimate)

    # --- sub-actions --------------------------------------------------------------------

    @sub_action("run", RunParams)
    async def run(self, params: RunParams) -> JsonObject:
        return await self._run_api(params.body, params.timeout)

    @sub_action("test", RunParams)
    async def test(self, params: RunParams) -> JsonObject:
        """What the UI's Test tab calls; identical to ``run``."""
        return await self._run_api(params.body, params.timeout)

    @sub_action("stream", StreamParams)
    async def stream(self, params: StreamParams) -> JsonObject | ByteStream:
        tokens, body = self.tokens, params.body
        estimate: EstimateFactory | None = None
        if tokens is not None:

            def estimate(completion: Completion) -> Callable[[], TokenUsage]:
                return stream_estimate(tokens, body, completion)

        return await self._stream_api(
            params.body,
            stream=params.stream,
            timeout_ms=params.timeout,
            reader=self._reader(params, estimate),
        )

    @sub_action("invokeAI", InvokeAIParams)
    async def invoke_ai(self, params: InvokeAIParams) -> JsonObject:
        data = await self._run_api(_invoke_body(params), params.timeout)
        usage = data.get("usage") or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        choices = data.get("choices")
        content = None
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict):
                content = message.get("content")
        if isinstance(content, str) and content:
            return {"message": content.strip(), "usage": usage}
        return {"message": UNRECOGNIZED_FORMAT, "usage": usage}

    @sub_action("invokeStream", InvokeAIParams)
    async def invoke_stream(self, params: InvokeAIParams) -> JsonObject | ByteStream:
        tokens, messages = self.tokens, [m.model_dump() for m in params.messages]
        estimate: EstimateFactory | None = None
        if tokens is not None:

            def estimate(completion: Completion) -> Callable[[], TokenUsage]:
                return invoke_stream_estimate(tokens, messages, completion)

        return await self._stream_api(
            _invoke_body(params),
            stream=True,
            timeout_ms=params.timeout,
            reader=self._reader(params, estimate),
        )

    @sub_action("getDashboard", DashboardParams)
    async def get_dashboard(self, params: DashboardParams) -> JsonObject:
        """Kibana's answer to "may this caller see the token usage dashboard?".

        Kibana checks the caller's read privilege on the event log, then finds or creates the
        saved dashboard ``dashboardId``. llmrelay has one built-in usage page per connector
        (``/app/connectors/<id>/usage``), so any ``dashboardId`` is accepted and nothing is
        created: only the privilege decides.
        """
        return {"available": await self.context.event_log_access.can_read_event_log()}


def pki_tls(
    provider: Provider, config: Mapping[str, object], secrets: Mapping[str, str]
) -> TlsSettings | None:
    """Kibana applies PKI only for "Other", with PKI material, when ``verificationMode`` is set."""
    mode = config.get("verificationMode")
    material = [secrets.get(k) for k in ("certificateData", "privateKeyData", "caData")]
    if provider != "Other" or not any(material) or mode not in ("full", "certificate", "none"):
        return None
    certificate, key, ca = (decoded_pem(value) if value else None for value in material)
    client = ClientCertificate(certificate, key) if certificate and key else None
    return TlsSettings(mode, ca, client)


def _invoke_body(params: InvokeAIParams) -> str:
    sent = params.model_dump(exclude_unset=True, exclude=set(IN_PROCESS_ONLY_PARAMS))
    try:
        return dumps(sent, refuse_lone_surrogates=True).decode()
    except LoneSurrogateError as exc:
        raise _invalid_body(exc) from None


async def _relay(upstream: HttpStream, reader: ChatStreamReader) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream:
            relayed = reader.relay(chunk)
            if relayed:
                yield relayed
        rest = reader.rest()
        if rest:
            yield rest
    except TransportError as exc:
        raise transport_error(exc) from None
    finally:
        await upstream.aclose()
