"""The ``llmrelay`` command: serve, db, connectors, run, users, audit.

Every command builds its settings once and calls ``asyncio.run`` once; connector commands
work on the local database through the same ActionsClient the HTTP API uses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click
import uvicorn

from llmrelay import __version__
from llmrelay.app import create_app
from llmrelay.cli.config import config
from llmrelay.cli.connectors import connectors
from llmrelay.cli.context import CliState, progress
from llmrelay.cli.executions import executions
from llmrelay.cli.run import run
from llmrelay.cli.security import audit, users
from llmrelay.errors import LlmrelayError
from llmrelay.services import open_services
from llmrelay.serving import http_protocol
from llmrelay.settings import Settings

CONFIG_HELP = "YAML config file (default: $LLMRELAY_CONFIG)."


def _configure_logging(level: str) -> None:
    if level != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@click.group()
@click.version_option(__version__, prog_name="llmrelay")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    envvar="LLMRELAY_CONFIG",
    help=CONFIG_HELP,
)
@click.pass_context
def main(ctx: click.Context, config_file: Path | None) -> None:
    """llmrelay: a self-hosted relay to large language models."""
    ctx.obj = CliState(config_file=config_file, environ=dict(os.environ))


@main.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 5601).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help=CONFIG_HELP)
@click.pass_obj
def serve(state: CliState, host: str | None, port: int | None, config_file: Path | None) -> None:
    """Start the HTTP service (API on http://HOST:PORT/api; https with server.ssl.enabled)."""
    if config_file:
        state.config_file = config_file
    settings = state.settings({"server.host": host, "server.port": port})
    _configure_logging(settings.log_level)
    try:
        asyncio.run(_check_services(settings))
    except LlmrelayError as exc:
        raise click.ClickException(str(exc)) from None
    ssl = settings.server.ssl
    uvicorn.run(
        create_app(settings, freeze_gc_after_start=True, load_tokenizer_at_start=True),
        host=settings.server.host,
        port=settings.server.port,
        http=http_protocol(settings.server.max_header_bytes),
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        # X-Forwarded-For is read by llmrelay itself, from server.trusted_proxies only
        # (auth/addresses.py); uvicorn's default would believe it from 127.0.0.1
        proxy_headers=False,
        ssl_certfile=str(ssl.certificate) if ssl.enabled and ssl.certificate else None,
        ssl_keyfile=str(ssl.key) if ssl.enabled and ssl.key else None,
    )


async def _check_services(settings: Settings) -> None:
    """Open everything once before serving: a bad database or key is one line, not a traceback.

    This also applies pending migrations, before the server accepts any request.
    """
    async with open_services(settings):
        pass


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(state: CliState) -> None:
    """Apply pending schema migrations (also done at every start)."""
    settings = state.settings()
    _configure_logging("warning")

    async def upgrade() -> None:
        async with open_services(settings, migrate=False) as services:
            await services.database.upgrade()

    async def upgrade_with_progress() -> None:
        async with progress("applying migrations"):
            await upgrade()

    asyncio.run(upgrade_with_progress())
    click.echo("database is up to date")


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script, e.g. eval "$(llmrelay completion bash)"."""
    from click.shell_completion import get_completion_class

    completion_class = get_completion_class(shell)
    assert completion_class is not None
    click.echo(completion_class(main, {}, "llmrelay", "_LLMRELAY_COMPLETE").source())


main.add_command(config)
main.add_command(executions)
main.add_command(connectors)
main.add_command(run)
main.add_command(users)
main.add_command(audit)
