"""``llmrelay users ...`` and ``llmrelay audit``: users and the audit log, on the local database.

Like every store-level command they act as the local superuser ``local-cli`` (see
docs/security.md): whoever can run them here can read the database and its key anyway.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from llmrelay.auth import AuditFilter, user_to_wire
from llmrelay.cli.context import CLI_PRINCIPAL, CliState, print_json, with_services
from llmrelay.services import Services


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def users() -> None:
    """Manage users (native realm)."""


@users.command("list")
@click.pass_obj
def users_list(state: CliState) -> None:
    """Print every user as JSON (never a password or hash)."""

    async def run(services: Services) -> list[dict[str, object]]:
        return [user_to_wire(u) for u in await services.security.list_users(CLI_PRINCIPAL)]

    print_json(with_services(state, run))


@users.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, help="A role to give (repeat for several).")
@click.option("--full-name", help="The user's full name.")
@click.option("--email", help="The user's e-mail address.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def users_create(
    state: CliState,
    username: str,
    roles: tuple[str, ...],
    full_name: str | None,
    email: str | None,
    password_stdin: bool,
) -> None:
    """Create a user; the password is asked for (hidden) unless --password-stdin."""
    password = _password(password_stdin)

    async def run(services: Services) -> bool:
        existing = {u.username for u in await services.security.list_users(CLI_PRINCIPAL)}
        if username in existing:
            raise click.ClickException(f"user [{username}] already exists")
        return await services.security.put_user(
            CLI_PRINCIPAL,
            username,
            password=password,
            roles=list(roles),
            full_name=full_name,
            email=email,
        )

    with_services(state, run)
    click.echo(f"created user {username}")


@users.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@click.pass_obj
def users_passwd(state: CliState, username: str, password_stdin: bool) -> None:
    """Set a user's password (ends their sessions)."""
    password = _password(password_stdin)

    async def run(services: Services) -> None:
        await services.security.change_password(CLI_PRINCIPAL, username, current=None, new=password)

    with_services(state, run)
    click.echo(f"changed the password of {username}")


@users.command("delete")
@click.argument("username")
@click.pass_obj
def users_delete(state: CliState, username: str) -> None:
    """Delete a user and their sessions, and invalidate their API keys."""
    with_services(state, lambda s: s.security.delete_user(CLI_PRINCIPAL, username))
    click.echo(f"deleted user {username}")


def _moment(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@click.command()
@click.option("--action", help="Only this action, e.g. authentication_failed.")
@click.option("--user", "user_name", help="Only this user's events.")
@click.option("--outcome", type=click.Choice(["success", "failure"]), help="Only this outcome.")
@click.option("--since", type=click.DateTime(), help="Only events at or after (UTC).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_obj
def audit(
    state: CliState,
    action: str | None,
    user_name: str | None,
    outcome: str | None,
    since: datetime | None,
    limit: int,
) -> None:
    """Print the audit log as JSON, newest first."""
    where = AuditFilter(start=_moment(since), action=action, user_name=user_name, outcome=outcome)

    async def run(services: Services) -> list[dict[str, object]]:
        _, events = await services.security.find_audit(CLI_PRINCIPAL, where, page=1, per_page=limit)
        return [event.to_wire() for event in events]

    print_json(with_services(state, run))
