"""The OpenAI-compatible API: any OpenAI SDK can use a connector by pointing its base URL here.

``POST /v1/chat/completions`` (``model`` names the connector) and Azure's
``POST /openai/deployments/{deployment}/chat/completions`` (the deployment names it) send the body
through the connector with all its settings, as a ``run`` or ``stream`` execution that lands in
the event log (source ``openai_api``), and answer what the provider answered: its JSON, or its
event stream relayed as it arrives. ``GET /v1/models`` lists the connectors.

These routes need no ``kbn-xsrf`` (the guard checks only ``/api/``): a cross-site page cannot
send the ``Authorization`` or ``api-key`` header they require without a CORS preflight, which
llmrelay never grants.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from llmrelay.actions_client import Connector
from llmrelay.api.connectors import actions_of
from llmrelay.api.openai_errors import (
    error_response,
    from_exception,
    from_failed_result,
    stream_error_event,
)
from llmrelay.api.streaming import ByteStreamResponse
from llmrelay.auth import Principal
from llmrelay.errors import BadRequestError, LlmrelayError, NotFoundError, UnauthorizedError
from llmrelay.eventlog import Source
from llmrelay.execution import ActionResult
from llmrelay.jsontext import TooDeepError, dumps, loads

SOURCE: Source = "openai_api"
KEY_SCHEMES = frozenset({"bearer", "apikey"})
NO_KEY = (
    "You didn't provide an API key. Send your llmrelay API key as 'Authorization: Bearer <key>' "
    "(OpenAI SDKs: api_key=...) or in the 'api-key' header (Azure OpenAI SDKs)."
)
BAD_JSON = "We could not parse the JSON body of your request: it must be a JSON object."


def presented_key(request: Request) -> str:
    """The API key the caller sent: ``Authorization: Bearer <key>`` (OpenAI SDKs), ``ApiKey
    <key>`` (Kibana-style clients) or the ``api-key`` header (Azure SDKs), in that order.

    Raises ``UnauthorizedError`` (401 in OpenAI's shape) when none is given or it is empty.
    """
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in KEY_SCHEMES and credentials.strip():
        return credentials.strip()
    azure_key = request.headers.get("api-key", "").strip()
    if azure_key:
        return azure_key
    raise UnauthorizedError(NO_KEY)


async def authenticate(request: Request) -> Principal:
    """The principal of the llmrelay API key the caller presents, checked as every other route's
    credentials are (``auth.Authenticator``: cached, throttled, expiry and invalidation).

    The authentication middleware lets these routes through so that OpenAI SDKs, which send
    ``Bearer`` or ``api-key`` rather than ``ApiKey``, get errors in OpenAI's shape. A missing,
    unknown, expired or invalidated key is a 401; the key is never logged or echoed.
    """
    key = presented_key(request)
    authenticator = request.app.state.services.authenticator
    peer, forwarded = authenticator.addresses.of(request.scope)
    principal: Principal = await authenticator.authenticate(f"ApiKey {key}", None, peer, forwarded)
    return principal


Handler = Callable[[Request], Awaitable[Response]]


def openai_errors(handler: Handler) -> Handler:
    """Answer llmrelay's errors in OpenAI's shape on these routes (the app's handlers use
    Kibana's); anything that is not a ``LlmrelayError`` is a bug and goes to the app's 500."""

    @wraps(handler)
    async def handle(request: Request) -> Response:
        try:
            return await handler(request)
        except LlmrelayError as exc:
            return from_exception(exc)

    return handle


class OpenAIStreamResponse(ByteStreamResponse):
    """The provider's SSE relayed unchanged; a stream that breaks off ends with an OpenAI error."""

    def error_event(self, exc: LlmrelayError) -> bytes:
        return stream_error_event(exc)


async def read_chat_body(request: Request, *, model_required: bool) -> dict[str, object]:
    raw = await request.body()
    try:
        body = loads(raw)
    except TooDeepError as exc:
        raise BadRequestError(f"We could not parse the JSON body of your request: {exc}.") from None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadRequestError(BAD_JSON)
    model = body.get("model")
    if model_required and (not isinstance(model, str) or not model.strip()):
        raise BadRequestError("you must provide a model parameter (a connector id or name)")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequestError("'stream' must be a boolean")
    return body


def answer(result: ActionResult) -> Response:
    if result.stream is not None:
        return OpenAIStreamResponse(result.stream)
    if result.status == "ok":
        return Response(dumps(result.data), media_type="application/json")
    return from_failed_result(result)


def unknown_model(model: str) -> Response:
    message = f"The model `{model}` does not exist: it names no connector (by id or by name)"
    return error_response(404, message, code="model_not_found", param="model")


async def run_chat(
    request: Request, principal: Principal, model: str, body: dict[str, object]
) -> Response:
    try:
        result = await actions_of(request).chat_completion(
            model, body, principal=principal, source=SOURCE
        )
    except NotFoundError:
        return unknown_model(model)
    return answer(result)


@openai_errors
async def chat_completions(request: Request) -> Response:
    principal = await authenticate(request)
    body = await read_chat_body(request, model_required=True)
    return await run_chat(request, principal, str(body["model"]), body)


@openai_errors
async def azure_chat_completions(request: Request) -> Response:
    """``api-version`` is accepted and ignored: the connector's own URL names the upstream one."""
    principal = await authenticate(request)
    body = await read_chat_body(request, model_required=False)
    return await run_chat(request, principal, request.path_params["deployment"], body)


def model_entry(model_id: str, connector: Connector) -> dict[str, object]:
    """OpenAI's model object; ``created`` is 0 as connectors do not expose a creation time."""
    return {
        "id": model_id,
        "object": "model",
        "created": 0,
        "owned_by": "llmrelay",
        "name": connector.name,
        "connector_id": connector.id,
    }


@openai_errors
async def list_models(request: Request) -> Response:
    principal = await authenticate(request)
    connectors = await actions_of(request).chat_connectors(principal=principal)
    return JSONResponse({"object": "list", "data": [model_entry(c.id, c) for c in connectors]})


@openai_errors
async def get_model(request: Request) -> Response:
    principal = await authenticate(request)
    model = request.path_params["model"]
    try:
        connector, _ = await actions_of(request).resolve_model(model, principal=principal)
    except NotFoundError:
        return unknown_model(model)
    return JSONResponse(model_entry(model, connector))


chat_routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route(
        "/openai/deployments/{deployment:path}/chat/completions",
        azure_chat_completions,
        methods=["POST"],
    ),
]
"""Called for every chat completion: answered by ``RelayedRoutes`` unless CORS is on."""
routes: list[BaseRoute] = [
    *chat_routes,
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]
