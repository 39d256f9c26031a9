"""The documentation covers what users can reach: every route, setting, command, option and field.

Each test collects the names from the code itself, so adding a route, a setting, a CLI option or a
connector field without documenting it fails here (DESIGN.md: docs are part of the change).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from pydantic import BaseModel
from starlette.routing import Route

from llmrelay.api.event_log import KNOWN_PARAMETERS
from llmrelay.app import create_app
from llmrelay.cli import main
from llmrelay.connector_types.openai.schemas import CONFIG_ALTERNATIVES, SECRETS_ALTERNATIVES
from llmrelay.connector_types.openai.service import OpenAIService
from llmrelay.eventlog import ExecutionEvent
from llmrelay.eventlog.queries import SORT_FIELDS
from llmrelay.settings import (
    ENVIRONMENT_VARIABLES,
    KIBANA_KEYS,
    PreconfiguredConnector,
    Settings,
    load_settings,
)
from llmrelay.settings.files import Alias

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
IMPLICIT_METHODS = frozenset({"HEAD"})
"""Starlette adds HEAD to every GET route; the API page says so once."""
CONVERTOR = re.compile(r"\{(\w+):\w+\}")

README_COMMANDS = (
    "make run    # install into .venv and start llmrelay on http://127.0.0.1:5601 "
    "(SQLite under ./data)",
    "make test   # install dev dependencies and run the whole test suite",
)


def read(relative: str) -> str:
    return (DOCS / relative).read_text(encoding="utf-8")


# --- what the code offers -------------------------------------------------------------------


def api_routes() -> set[str]:
    app = create_app(load_settings({}))  # the database is opened only by the lifespan
    found = set()
    for route in app.routes:
        if isinstance(route, Route):
            path = CONVERTOR.sub(r"{\1}", route.path)  # documented as {name}, not {name:path}
            for method in set(route.methods or ()) - IMPLICIT_METHODS:
                found.add(f"{method} {path}")
    return found


def setting_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_keys(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def cli_commands(
    command: click.Command = main, path: str = "llmrelay"
) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from cli_commands(sub, f"{path} {name}")


def long_flags(command: click.Command) -> list[str]:
    return [
        opt
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--")
    ]


def openai_fields() -> set[str]:
    return {
        name
        for model in (*CONFIG_ALTERNATIVES, *SECRETS_ALTERNATIVES)
        for name in model.model_fields
    }


# --- Markdown helpers -------------------------------------------------------------------------

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.MULTILINE)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def section(text: str, title: str) -> str:
    """The text under the heading ``title`` (backticks ignored), up to the next heading of the
    same or a higher level."""
    body = without_code_blocks(text)
    headings = list(HEADING.finditer(body))
    for index, match in enumerate(headings):
        if match.group(2).replace("`", "") == title:
            level = len(match.group(1))
            end = len(body)
            for later in headings[index + 1 :]:
                if len(later.group(1)) <= level:
                    end = later.start()
                    break
            return body[match.end() : end]
    raise AssertionError(f"no heading {title!r}")


def github_anchor(title: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    plain = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower())
    return plain.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(without_code_blocks(path.read_text(encoding="utf-8"))):
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def json_blocks(text: str) -> list[str]:
    return re.findall(r"^```json\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def key_paths(value: object, prefix: str = "") -> set[str]:
    """Every key of a JSON object, as dotted paths (``kibana.action.id``)."""
    if not isinstance(value, dict):
        return set()
    found = set()
    for key, inner in value.items():
        found.add(prefix + key)
        found |= key_paths(inner, f"{prefix}{key}.")
    return found


def sample_event() -> ExecutionEvent:
    """An event with every optional field set, so ``to_wire`` shows its full shape."""
    now = datetime.now(UTC)
    return ExecutionEvent(
        id="e",
        timestamp=now,
        end=now,
        duration_ns=1,
        outcome="failure",
        connector_id="c",
        connector_name="n",
        connector_type_id=".gen-ai",
        sub_action="run",
        source="cli",
        message="m",
        provider="Other",
        model="m",
        user_name="u",
        error_message="e",
        prompt_tokens=1,
        completion_tokens=1,
        total_tokens=2,
        usage_estimated=False,
    )


def table_rows(text: str, first_cell: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"| `{first_cell}` |")]


COMMANDS = dict(cli_commands())
SETTINGS_TABLE = "All settings"
FIND_ROUTE = "GET /api/event_log/connector/{connector_id}/_find"


# --- tests ------------------------------------------------------------------------------------


def test_readme_starts_with_the_two_make_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ")
    assert lines[1].startswith("```")
    assert tuple(lines[2:4]) == README_COMMANDS
    assert lines[4] == "```"


@pytest.mark.parametrize("route", sorted(api_routes()))
def test_every_route_is_documented(route: str) -> None:
    assert f"`{route}`" in read("api.md"), f"{route} is missing from docs/api.md"


def test_the_api_page_names_no_route_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"`((?:GET|POST|PUT|DELETE|PATCH) /api/[^`\s?]*)", read("api.md")))
    assert mentioned - api_routes() == set()


@pytest.mark.parametrize("key", list(setting_keys()))
def test_every_setting_is_in_the_settings_table(key: str) -> None:
    rows = table_rows(section(read("settings.md"), SETTINGS_TABLE), key)
    assert rows, f"setting {key} has no row in the settings table of docs/settings.md"


@pytest.mark.parametrize(("variable", "path"), sorted(ENVIRONMENT_VARIABLES.items()))
def test_every_environment_variable_is_on_its_settings_row(
    variable: str, path: tuple[str, ...]
) -> None:
    key = ".".join(path)
    rows = table_rows(section(read("settings.md"), SETTINGS_TABLE), key)
    assert rows, f"setting {key} has no row in the settings table of docs/settings.md"
    assert f"`{variable}`" in rows[0], f"{variable} is not on the row of {key}"


def test_the_settings_table_lists_no_unknown_setting() -> None:
    table = section(read("settings.md"), SETTINGS_TABLE)
    documented = set(re.findall(r"^\| `([a-z_.]+)` \|", table, flags=re.MULTILINE))
    assert documented - set(setting_keys()) == set()


@pytest.mark.parametrize(("kibana_key", "alias"), sorted(KIBANA_KEYS.items()))
def test_every_kibana_key_is_on_a_row_with_its_llmrelay_key(kibana_key: str, alias: Alias) -> None:
    rows = table_rows(section(read("settings.md"), "Kibana keys"), kibana_key)
    assert rows, f"{kibana_key} is missing from the Kibana keys table"
    assert f"`{alias.target}`" in rows[0]


@pytest.mark.parametrize("field", sorted(PreconfiguredConnector.model_fields))
def test_every_preconfigured_connector_field_is_documented(field: str) -> None:
    assert table_rows(read("preconfigured.md"), field), f"{field} has no row in preconfigured.md"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_command_has_a_section_naming_its_options(path: str) -> None:
    text = section(read("cli.md"), path)
    for flag in long_flags(COMMANDS[path]):
        assert f"`{flag}" in text, f"{flag} of {path} is not documented under its heading"


def test_the_cli_page_has_no_heading_for_a_command_that_does_not_exist() -> None:
    known = set(COMMANDS)
    headings = {
        m.group(2).replace("`", "")
        for m in HEADING.finditer(without_code_blocks(read("cli.md")))
        if m.group(2).startswith("`llmrelay")
    }
    assert headings - known == set()


@pytest.mark.parametrize("field", sorted(openai_fields()))
def test_every_openai_config_and_secrets_field_is_documented(field: str) -> None:
    rows = table_rows(read("connector_types/openai.md"), field)
    assert rows, f"{field} has no table row in docs/connector_types/openai.md"


@pytest.mark.parametrize("name", sorted(OpenAIService.sub_actions))
def test_every_sub_action_has_a_section(name: str) -> None:
    assert section(read("connector_types/openai.md"), name).strip()


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_existing_files_and_headings(page: Path) -> None:
    for target in LINK.findall(without_code_blocks(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        assert linked.exists(), f"{page.name} links to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name} links to missing heading {target}"


def test_the_index_links_every_page() -> None:
    index = DOCS / "index.md"
    linked = {
        (DOCS / target.partition("#")[0]).resolve()
        for target in LINK.findall(without_code_blocks(index.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z]+:", target)
    }
    for page in sorted(DOCS.rglob("*.md")):
        if page != index:
            assert page.resolve() in linked, f"docs/index.md does not link {page.relative_to(ROOT)}"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(ExecutionEvent)])
def test_every_event_field_has_a_row(field: str) -> None:
    rows = table_rows(section(read("eventlog.md"), "Fields"), field)
    assert rows, f"event field {field} has no row in the Fields table of docs/eventlog.md"


def test_the_documented_event_has_the_shape_to_wire_gives() -> None:
    example = json.loads(json_blocks(read("eventlog.md"))[0])
    wire = sample_event().to_wire()
    assert key_paths(example) | {"user.name"} == key_paths(wire)


@pytest.mark.parametrize("parameter", sorted(KNOWN_PARAMETERS))
def test_every_find_parameter_has_a_row(parameter: str) -> None:
    assert table_rows(section(read("api.md"), FIND_ROUTE), parameter)


@pytest.mark.parametrize("field", sorted(SORT_FIELDS))
def test_every_find_sort_field_is_named(field: str) -> None:
    assert f"`{field}`" in section(read("api.md"), FIND_ROUTE)
