"""``llmrelay run``: run any sub-action of a connector, streamed or not."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from llmrelay.actions_client import ActionsClient
from llmrelay.cli.context import (
    CLI_PRINCIPAL,
    CliState,
    json_argument,
    print_json,
    progress,
    with_actions,
)
from llmrelay.execution import ActionResult
from llmrelay.transport import iter_sse_events


def _stream_text(data: str) -> str:
    """The text a chat-completion chunk adds (``choices[0].delta.content``)."""
    try:
        chunk = json.loads(data)
    except ValueError:
        return ""
    choices = chunk.get("choices") if isinstance(chunk, Mapping) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        delta = choices[0].get("delta")
        if isinstance(delta, Mapping) and isinstance(delta.get("content"), str):
            return str(delta["content"])
    return ""


async def _print_stream(result: ActionResult) -> None:
    assert result.stream is not None
    try:
        async for event in iter_sse_events(result.stream.chunks):
            if event.event == "error":
                raise click.ClickException(event.data)
            if event.data.strip() != "[DONE]":
                click.echo(_stream_text(event.data), nl=False)
                sys.stdout.flush()
    finally:
        await result.stream.aclose()
    click.echo()


def _asking_for_stream(body: str) -> str:
    """Kibana leaves ``stream`` alone for non-official OpenAI URLs, so the body must ask."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict) and "stream" not in parsed:
        parsed["stream"] = True
        return json.dumps(parsed)
    return body


def _read_body(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {source}: {exc.strerror}") from None


@click.command()
@click.argument("connector_id")
@click.option("--body", "body_source", help="Chat-completion body: a file, or - for stdin.")
@click.option("--params", "params_source", help="subActionParams as JSON, @file, or - (stdin).")
@click.option(
    "--sub-action", default=None, help="Sub-action (default: run, or stream with --stream)."
)
@click.option("--stream", is_flag=True, help="Stream the answer and print tokens as they arrive.")
@click.pass_obj
def run(
    state: CliState,
    connector_id: str,
    body_source: str | None,
    params_source: str | None,
    sub_action: str | None,
    stream: bool,
) -> None:
    """Run a connector and print the result (exit status 1 when it failed).

    \b
    llmrelay run my-llm --body request.json
    llmrelay run my-llm --body - --stream < request.json
    llmrelay run my-llm --sub-action invokeAI --params '{"messages": [...]}'
    """
    sub_params: dict[str, object] = json_argument(params_source, "--params") or {}
    if body_source is not None:
        body = _read_body(body_source)
        sub_params["body"] = _asking_for_stream(body) if stream else body
    elif not sub_params:
        raise click.UsageError("give the request with --body or --params")
    if stream and (sub_action or "stream") == "stream":
        sub_params["stream"] = True  # the stream sub-action's own flag; invokeStream has none
    params = {
        "subAction": sub_action or ("stream" if stream else "run"),
        "subActionParams": sub_params,
    }

    async def execute(actions: ActionsClient) -> ActionResult:
        async with progress(f"waiting for {connector_id}"):
            result = await actions.execute(
                connector_id, params, principal=CLI_PRINCIPAL, source="cli"
            )
        if result.stream is not None:
            await _print_stream(result)
        return result

    result = with_actions(state, execute)
    if result.stream is None:
        print_json(result.to_wire())
    if result.status == "error":
        sys.exit(1)
