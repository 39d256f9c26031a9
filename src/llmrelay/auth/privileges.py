"""Roles, privileges and the ``Principal`` every use case is asked for.

Roles have Kibana's shape: a ``kibana`` part granting feature privileges (here one feature,
``actions``: ``all`` manages and runs connectors, ``read`` sees and runs them) and an
``elasticsearch`` part granting cluster privileges (``all``, ``manage_security``) and index
privileges (``read``, ``view_index_metadata``) on the event log index. A role is turned into a
flat set of :data:`Privilege` names once, when it is loaded, so that a check on the request path
is one ``frozenset`` lookup.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from llmrelay.errors import BadRequestError, ForbiddenError, UnauthorizedError

Privilege = Literal[
    "connectors:all",
    "connectors:read",
    "event_log:read",
    "event_log:view_index_metadata",
    "cluster:manage_security",
    "cluster:manage_own_api_key",
]
"""Every privilege llmrelay checks. ``connectors:all`` implies ``connectors:read``;
``cluster:manage_security`` implies ``cluster:manage_own_api_key``."""

ALL_PRIVILEGES: frozenset[Privilege] = frozenset(
    {
        "connectors:all",
        "connectors:read",
        "event_log:read",
        "event_log:view_index_metadata",
        "cluster:manage_security",
        "cluster:manage_own_api_key",
    }
)

CONNECTORS_FEATURE = "actions"
"""Kibana's feature id for "Actions and Connectors"."""
FEATURE_PRIVILEGES = {"all": ("connectors:all", "connectors:read"), "read": ("connectors:read",)}
EVENT_LOG_INDEX = ".kibana-event-log"
INDEX_PRIVILEGES = {
    "read": ("event_log:read",),
    "view_index_metadata": ("event_log:view_index_metadata",),
    "all": ("event_log:read", "event_log:view_index_metadata"),
}
CLUSTER_PRIVILEGES = {
    "all": tuple(ALL_PRIVILEGES),
    "manage_security": ("cluster:manage_security", "cluster:manage_own_api_key"),
    "manage_own_api_key": ("cluster:manage_own_api_key",),
}
"""Elasticsearch's names; ``manage_own_api_key`` is creating, listing and invalidating one's own
API keys, which a key limited by ``role_descriptors`` lacks unless they grant it."""

ROLE_NAME_MAX_LENGTH = 255


@dataclass(frozen=True)
class Role:
    name: str
    definition: Mapping[str, object]
    """The role as written (Kibana/Elasticsearch shape), echoed back by the API."""
    privileges: frozenset[Privilege]
    built_in: bool = False


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequestError(f"[{where}]: expected an array of strings")
    return [str(item) for item in value]


def _object(value: object, where: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise BadRequestError(f"[{where}]: expected an object")
    return value


def _unknown_keys(value: Mapping[str, object], known: set[str], where: str) -> None:
    unknown = sorted(set(value) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        raise BadRequestError(f"[{prefix}{unknown[0]}]: definition for this key is missing")


def _choose(table: Mapping[str, tuple[str, ...]], name: str, where: str) -> tuple[str, ...]:
    if name not in table:
        raise BadRequestError(
            f"[{where}]: unknown privilege [{name}]; expected one of {', '.join(sorted(table))}"
        )
    return table[name]


def privileges_of(definition: Mapping[str, object]) -> frozenset[Privilege]:
    """Validate a role definition and flatten it; unknown keys, names or indices are a 400."""
    _unknown_keys(definition, {"elasticsearch", "kibana", "metadata", "description"}, "")
    granted: set[str] = set()
    elasticsearch = _object(definition.get("elasticsearch", {}), "elasticsearch")
    _unknown_keys(elasticsearch, {"cluster", "indices", "run_as"}, "elasticsearch")
    for name in _strings(elasticsearch.get("cluster", []), "elasticsearch.cluster"):
        granted.update(_choose(CLUSTER_PRIVILEGES, name, "elasticsearch.cluster"))
    indices = elasticsearch.get("indices", [])
    if not isinstance(indices, list):
        raise BadRequestError("[elasticsearch.indices]: expected an array of objects")
    for number, entry in enumerate(indices):
        where = f"elasticsearch.indices.{number}"
        entry = _object(entry, where)
        _unknown_keys(entry, {"names", "privileges"}, where)
        names = _strings(entry.get("names", []), f"{where}.names")
        if not names or not all(fnmatch.fnmatchcase(EVENT_LOG_INDEX, n) for n in names):
            raise BadRequestError(
                f"[{where}.names]: llmrelay has one index, {EVENT_LOG_INDEX} "
                f"(patterns such as {EVENT_LOG_INDEX}* match it)"
            )
        for name in _strings(entry.get("privileges", []), f"{where}.privileges"):
            granted.update(_choose(INDEX_PRIVILEGES, name, f"{where}.privileges"))
    kibana = definition.get("kibana", [])
    if not isinstance(kibana, list):
        raise BadRequestError("[kibana]: expected an array of objects")
    for number, entry in enumerate(kibana):
        where = f"kibana.{number}"
        entry = _object(entry, where)
        _unknown_keys(entry, {"base", "feature", "spaces"}, where)
        for name in _strings(entry.get("base", []), f"{where}.base"):
            granted.update(_choose(FEATURE_PRIVILEGES, name, f"{where}.base"))
        features = _object(entry.get("feature", {}), f"{where}.feature")
        for feature, granted_names in features.items():
            if feature != CONNECTORS_FEATURE:
                raise BadRequestError(
                    f"[{where}.feature.{feature}]: unknown feature; llmrelay has one, "
                    f"{CONNECTORS_FEATURE}"
                )
            for name in _strings(granted_names, f"{where}.feature.{feature}"):
                granted.update(_choose(FEATURE_PRIVILEGES, name, f"{where}.feature.{feature}"))
    return frozenset(p for p in ALL_PRIVILEGES if p in granted)


def role_from_definition(
    name: str, definition: Mapping[str, object], built_in: bool = False
) -> Role:
    if not name or len(name) > ROLE_NAME_MAX_LENGTH or not name.isprintable():
        raise BadRequestError("[name]: a role name is 1 to 255 printable characters")
    return Role(name, dict(definition), privileges_of(definition), built_in)


def _feature(privilege: str) -> list[dict[str, object]]:
    return [{"base": [], "feature": {CONNECTORS_FEATURE: [privilege]}, "spaces": ["*"]}]


OWN_API_KEYS = {"cluster": ["manage_own_api_key"]}
"""Every built-in role lets its users manage their own API keys, as before the privilege was."""


def _event_log(*privileges: str) -> dict[str, object]:
    return {
        "cluster": ["manage_own_api_key"],
        "indices": [{"names": [EVENT_LOG_INDEX], "privileges": list(privileges)}],
    }


BUILT_IN_DEFINITIONS: Mapping[str, Mapping[str, object]] = {
    "superuser": {
        "elasticsearch": {"cluster": ["all"], "indices": [{"names": ["*"], "privileges": ["all"]}]},
        "kibana": [{"base": ["all"], "feature": {}, "spaces": ["*"]}],
    },
    "connectors_admin": {"elasticsearch": OWN_API_KEYS, "kibana": _feature("all")},
    "connectors_user": {"elasticsearch": OWN_API_KEYS, "kibana": _feature("read")},
    "usage_viewer": {
        "elasticsearch": _event_log("read", "view_index_metadata"),
        "kibana": _feature("read"),
    },
    "viewer": {"elasticsearch": _event_log("read"), "kibana": _feature("read")},
}
"""The built-in roles; they cannot be changed or deleted (as in Elasticsearch)."""


def built_in_roles() -> dict[str, Role]:
    return {
        name: role_from_definition(name, definition, built_in=True)
        for name, definition in BUILT_IN_DEFINITIONS.items()
    }


AuthType = Literal["basic", "api_key", "session", "local"]


@dataclass(frozen=True)
class Principal:
    """Who is asking, and what they may do; built by authentication, checked by use cases."""

    name: str
    auth_type: AuthType
    roles: tuple[str, ...]
    privileges: frozenset[Privilege]
    client_address: str | None = None
    """The TCP peer's address (a proxy's, behind one)."""
    api_key_id: str | None = None
    session_id_digest: str | None = field(default=None, repr=False)
    user_id: str | None = None
    """The user's immutable id (``None`` for a local principal): what keys are bound to."""
    forwarded_address: str | None = None
    """The client's address as forwarded by a trusted proxy (``server.trusted_proxies``)."""

    @classmethod
    def local(cls, name: str) -> Principal:
        """Someone at the machine holding the data directory (the CLI, library callers): they
        can read the database and the encryption key, so they may do everything."""
        return cls(name, "local", ("superuser",), ALL_PRIVILEGES)

    @property
    def is_superuser(self) -> bool:
        return self.privileges == ALL_PRIVILEGES

    def has(self, privilege: Privilege) -> bool:
        return privilege in self.privileges

    def may_read_event_log(self) -> bool:
        return "event_log:read" in self.privileges

    def may_run_connectors(self) -> bool:
        return "connectors:read" in self.privileges

    def require(self, privilege: Privilege) -> None:
        """Raise the 403 naming the privilege that is missing."""
        if privilege not in self.privileges:
            raise ForbiddenError(
                f"Unauthorized to perform this action: {self.name} lacks the "
                f"[{privilege}] privilege"
            )


def union(roles: Iterable[Role]) -> frozenset[Privilege]:
    granted: set[Privilege] = set()
    for role in roles:
        granted |= role.privileges
    return frozenset(granted)


PRINCIPAL_SCOPE_KEY = "llmrelay.principal"
"""Where the authentication middleware leaves the request's principal in the ASGI scope."""
SESSION_COOKIE = "sid"
"""Kibana's session cookie name."""


def principal_of(scope: Mapping[str, object]) -> Principal:
    """The principal of an authenticated request (``request.scope`` in a route or page)."""
    principal = scope.get(PRINCIPAL_SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise UnauthorizedError("missing authentication credentials")
    return principal
