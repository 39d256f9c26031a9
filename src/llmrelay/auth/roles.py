"""Where roles come from: built in, declared in the config file, or made through the API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from llmrelay.auth.privileges import Privilege, Role, built_in_roles, role_from_definition, union
from llmrelay.errors import BadRequestError, ConfigurationError
from llmrelay.storage import SecurityStore


class RoleRegistry:
    def __init__(
        self, store: SecurityStore, configured: Mapping[str, Mapping[str, object]]
    ) -> None:
        self._store = store
        self._fixed = built_in_roles()
        for name, definition in configured.items():
            if name in self._fixed:
                raise ConfigurationError(f"security.roles.{name}: {name} is a built-in role")
            try:
                self._fixed[name] = role_from_definition(name, definition, built_in=True)
            except BadRequestError as exc:
                raise ConfigurationError(f"security.roles.{name}: {exc.message}") from None

    def is_fixed(self, name: str) -> bool:
        """Built-in and config-file roles cannot be changed through the API."""
        return name in self._fixed

    async def get(self, name: str) -> Role | None:
        if name in self._fixed:
            return self._fixed[name]
        definition = await self._store.get_role(name)
        return role_from_definition(name, definition) if definition is not None else None

    async def all(self) -> list[Role]:
        stored = await self._store.list_roles()
        custom = [role_from_definition(name, d) for name, d in stored.items()]
        return sorted([*self._fixed.values(), *custom], key=lambda role: role.name)

    async def privileges_for(self, names: Iterable[str]) -> frozenset[Privilege]:
        """Unknown names grant nothing (a role deleted after it was given to a user)."""
        names = list(names)
        found = [self._fixed[n] for n in names if n in self._fixed]
        if len(found) < len(names):
            stored = await self._store.list_roles()
            found += [role_from_definition(n, stored[n]) for n in names if n in stored]
        return union(found)

    async def check_exist(self, names: Iterable[str]) -> None:
        missing = [n for n in names if n not in self._fixed]
        if missing:
            stored = await self._store.list_roles()
            unknown = [n for n in missing if n not in stored]
            if unknown:
                raise BadRequestError(f"[roles]: unknown role [{unknown[0]}]")

    async def put(self, name: str, definition: Mapping[str, object]) -> bool:
        if self.is_fixed(name):
            raise BadRequestError(f"role [{name}] is reserved and cannot be modified")
        role_from_definition(name, definition)  # validates before anything is written
        return await self._store.put_role(name, definition, datetime.now(UTC))

    async def delete(self, name: str) -> bool:
        if self.is_fixed(name):
            raise BadRequestError(f"role [{name}] is reserved and cannot be deleted")
        return await self._store.delete_role(name)
