"""Roles in Kibana's shape turn into privileges; anything unknown is refused by name."""

from __future__ import annotations

import pytest

from llmrelay.auth import Principal
from llmrelay.auth.privileges import built_in_roles, privileges_of
from llmrelay.errors import BadRequestError, ForbiddenError


def test_built_in_roles_grant_what_the_docs_say() -> None:
    roles = {name: sorted(role.privileges) for name, role in built_in_roles().items()}
    own_keys = "cluster:manage_own_api_key"
    assert roles["connectors_admin"] == [own_keys, "connectors:all", "connectors:read"]
    assert roles["connectors_user"] == [own_keys, "connectors:read"]
    assert roles["usage_viewer"] == [
        own_keys,
        "connectors:read",
        "event_log:read",
        "event_log:view_index_metadata",
    ]
    assert roles["viewer"] == [own_keys, "connectors:read", "event_log:read"]
    assert len(roles["superuser"]) == 6


def test_an_index_pattern_matching_the_event_log_is_accepted() -> None:
    granted = privileges_of(
        {"elasticsearch": {"indices": [{"names": [".kibana-event-log*"], "privileges": ["read"]}]}}
    )
    assert granted == {"event_log:read"}


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"kibana": [{"feature": {"actions": ["write"]}}]}, "unknown privilege [write]"),
        ({"kibana": [{"feature": {"fleet": ["all"]}}]}, "unknown feature"),
        ({"elasticsearch": {"cluster": ["monitor"]}}, "unknown privilege [monitor]"),
        (
            {"elasticsearch": {"indices": [{"names": ["logs-*"], "privileges": ["read"]}]}},
            "llmrelay has one index",
        ),
        (
            {"elasticsearch": {"indices": [{"names": ["*"], "privileges": ["delete"]}]}},
            "unknown privilege [delete]",
        ),
        ({"kibana": [{"feature": {"actions": "all"}}]}, "expected an array of strings"),
        ({"applications": []}, "[applications]: definition for this key is missing"),
    ],
)
def test_unknown_names_are_a_400_naming_them(definition: dict[str, object], message: str) -> None:
    with pytest.raises(BadRequestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        privileges_of(definition)


def test_a_denial_names_the_missing_privilege() -> None:
    principal = Principal("alice", "basic", ("connectors_user",), frozenset({"connectors:read"}))
    assert principal.may_run_connectors()
    assert not principal.may_read_event_log()
    with pytest.raises(ForbiddenError, match=r"alice lacks the \[connectors:all\] privilege"):
        principal.require("connectors:all")
    assert Principal.local("cli").is_superuser
