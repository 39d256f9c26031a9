"""Managing users, roles and API keys, and reading the audit log.

Each use case takes the :class:`Principal` asking and checks it first, before looking anything
up, so a refusal never says whether the object exists. Managing others needs
``cluster:manage_security`` (the ``superuser`` role); a user may change their own password, and
create, list and invalidate their own API keys with ``cluster:manage_own_api_key`` (every
built-in role has it).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from llmrelay.auth.audit import AuditEvent, AuditLog
from llmrelay.auth.authenticator import Authenticator
from llmrelay.auth.passwords import PasswordHashing, check_password_rules, new_secret, secret_digest
from llmrelay.auth.privileges import Principal, Role, privileges_of
from llmrelay.auth.roles import RoleRegistry
from llmrelay.errors import BadRequestError, ForbiddenError, NotFoundError
from llmrelay.storage import AuditFilter, SecurityStore, StoredApiKey, StoredUser, new_user_id

USERNAME = re.compile(r"^[A-Za-z0-9_@.+\-]{1,255}$")
ADMIN_USERNAME = "admin"
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_KEY_NAME_LENGTH = 1024


def parse_expiration(value: str) -> timedelta:
    """Elasticsearch's time units: ``30m``, ``12h``, ``1d``."""
    match = _DURATION.match(value.strip())
    if not match or int(match.group(1)) == 0:
        raise BadRequestError(
            f"[expiration]: [{value}] is not a positive duration such as 30m, 12h or 1d"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])


def _ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def user_to_wire(user: StoredUser) -> dict[str, object]:
    return {
        "username": user.username,
        "roles": list(user.roles),
        "full_name": user.full_name,
        "email": user.email,
        "enabled": user.enabled,
        "metadata": {},
    }


def role_to_wire(role: Role) -> dict[str, object]:
    return {
        "name": role.name,
        "elasticsearch": role.definition.get("elasticsearch", {"cluster": [], "indices": []}),
        "kibana": role.definition.get("kibana", []),
        "metadata": {"_reserved": True} if role.built_in else {},
        "privileges": sorted(role.privileges),
    }


def api_key_to_wire(key: StoredApiKey) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "id": key.id,
        "name": key.name,
        "username": key.owner,
        "realm": "native",
        "creation": _ms(key.created_at),
        "expiration": _ms(key.expires_at),
        "invalidated": key.invalidated_at is not None,
        "expired": key.expires_at is not None and key.expires_at <= now,
        "role_descriptors": key.role_descriptors or {},
    }


@dataclass(frozen=True)
class NewApiKey:
    """The answer to a create: the only time the secret is shown."""

    id: str
    name: str
    api_key: str
    expiration: datetime | None

    def to_wire(self) -> dict[str, object]:
        import base64

        encoded = base64.b64encode(f"{self.id}:{self.api_key}".encode()).decode()
        return {
            "id": self.id,
            "name": self.name,
            "api_key": self.api_key,
            "encoded": encoded,
            "expiration": _ms(self.expiration),
        }


class SecurityAdmin:
    def __init__(
        self,
        *,
        store: SecurityStore,
        roles: RoleRegistry,
        hashing: PasswordHashing,
        authenticator: Authenticator,
        audit: AuditLog,
    ) -> None:
        self._store = store
        self._roles = roles
        self._hashing = hashing
        self._authenticator = authenticator
        self._audit = audit

    def _require_manage(self, principal: Principal, action: str, target: str | None) -> None:
        try:
            principal.require("cluster:manage_security")
        except ForbiddenError:
            self._audit.record(
                "access_denied", "failure", principal=principal, target=target, message=action
            )
            raise

    def _require_own_keys(self, principal: Principal, action: str) -> None:
        """Managing one's own keys needs ``manage_own_api_key`` (Elasticsearch's privilege),
        not just being their owner: a key limited to running connectors must not list or
        invalidate its owner's other keys."""
        try:
            principal.require("cluster:manage_own_api_key")
        except ForbiddenError:
            self._audit.record("access_denied", "failure", principal=principal, message=action)
            raise

    def _changed(self, principal: Principal, action: str, target: str, message: str = "") -> None:
        self._authenticator.invalidate()
        self._audit.record(action, "success", principal=principal, target=target, message=message)

    # first start

    async def ensure_admin(self, password: str | None) -> str | None:
        """Create ``admin`` (superuser) when there are no users; returns a generated password
        (to show once) or None when none was generated or a user already existed."""
        if await self._store.count_users() > 0:
            return None
        generated = None
        if password is None:
            password = generated = secrets.token_urlsafe(18)
        check_password_rules(password)
        now = datetime.now(UTC)
        user = StoredUser(
            ADMIN_USERNAME,
            await self._hashing.hash(password),
            ("superuser",),
            None,
            None,
            True,
            now,
            now,
            new_user_id(),
        )
        if not await self._store.create_user(user):
            return None  # another instance created it first
        self._audit.record(
            "user_create",
            "success",
            user_name="system",
            target=ADMIN_USERNAME,
            message="first start: superuser created",
        )
        return generated

    # users

    async def list_users(self, principal: Principal) -> list[StoredUser]:
        self._require_manage(principal, "list users", None)
        return await self._store.list_users()

    async def get_user(self, principal: Principal, username: str) -> StoredUser:
        self._require_manage(principal, "get user", username)
        user = await self._store.get_user(username)
        if user is None:
            raise NotFoundError(f"user [{username}] not found")
        return user

    async def put_user(
        self,
        principal: Principal,
        username: str,
        *,
        password: str | None,
        roles: Sequence[str],
        full_name: str | None = None,
        email: str | None = None,
        enabled: bool = True,
    ) -> bool:
        """Create, or update when it exists (the password only when given); True if created."""
        self._require_manage(principal, "put user", username)
        if not USERNAME.match(username):
            raise BadRequestError(
                "[username]: 1 to 255 letters, digits or the characters _ @ . + -"
            )
        await self._roles.check_exist(roles)
        if password is not None:
            check_password_rules(password)
        if username == principal.name and not enabled:
            raise BadRequestError("you cannot disable yourself")
        now = datetime.now(UTC)
        existing = await self._store.get_user(username)
        if existing is None:
            if password is None:
                raise BadRequestError("[password]: required when creating a user")
            user = StoredUser(
                username,
                await self._hashing.hash(password),
                tuple(roles),
                full_name,
                email,
                enabled,
                now,
                now,
                new_user_id(),
            )
            if not await self._store.create_user(user):
                raise BadRequestError(f"user [{username}] was created concurrently; try again")
            self._changed(principal, "user_create", username, f"roles: {', '.join(roles)}")
            return True
        changes: dict[str, object] = {
            "roles": list(roles),
            "full_name": full_name,
            "email": email,
            "enabled": enabled,
            "updated_at": now,
        }
        if password is not None:
            changes["password_hash"] = await self._hashing.hash(password)
        await self._store.update_user(username, **changes)
        if password is not None or not enabled:
            await self._store.delete_sessions_of(existing.id)
        self._changed(principal, "user_update", username, f"roles: {', '.join(roles)}")
        return False

    async def change_password(
        self, principal: Principal, username: str, *, current: str | None, new: str
    ) -> None:
        """Yourself with your current password, or anyone with ``manage_security``."""
        if principal.name != username or principal.auth_type == "api_key":
            self._require_manage(principal, "change password", username)
        check_password_rules(new)
        user = await self._store.get_user(username)
        if user is None:
            raise NotFoundError(f"user [{username}] not found")
        own = principal.name == username and principal.auth_type != "local"
        if own and (current is None or not await self._hashing.verify(user.password_hash, current)):
            self._audit.record(
                "user_change_password",
                "failure",
                principal=principal,
                target=username,
                message="wrong current password",
            )
            raise BadRequestError("the current password is wrong")
        await self._store.update_user(
            username, password_hash=await self._hashing.hash(new), updated_at=datetime.now(UTC)
        )
        await self._store.delete_sessions_of(user.id)
        self._changed(principal, "user_change_password", username)

    async def delete_user(self, principal: Principal, username: str) -> None:
        self._require_manage(principal, "delete user", username)
        if username == principal.name:
            raise BadRequestError("you cannot delete yourself")
        if not await self._store.delete_user(username, datetime.now(UTC)):
            raise NotFoundError(f"user [{username}] not found")
        self._changed(principal, "user_delete", username)

    # roles

    async def list_roles(self, principal: Principal) -> list[Role]:
        self._require_manage(principal, "list roles", None)
        return await self._roles.all()

    async def get_role(self, principal: Principal, name: str) -> Role:
        self._require_manage(principal, "get role", name)
        role = await self._roles.get(name)
        if role is None:
            raise NotFoundError(f"role [{name}] not found")
        return role

    async def put_role(
        self, principal: Principal, name: str, definition: Mapping[str, object]
    ) -> bool:
        self._require_manage(principal, "put role", name)
        created = await self._roles.put(name, definition)
        self._changed(principal, "role_put", name, "created" if created else "updated")
        return created

    async def delete_role(self, principal: Principal, name: str) -> None:
        self._require_manage(principal, "delete role", name)
        if not await self._roles.delete(name):
            raise NotFoundError(f"role [{name}] not found")
        self._changed(principal, "role_delete", name)

    # API keys

    async def create_api_key(
        self,
        principal: Principal,
        *,
        name: str,
        expiration: str | None = None,
        role_descriptors: Mapping[str, Mapping[str, object]] | None = None,
    ) -> NewApiKey:
        """A key acting for ``principal``, limited to ``role_descriptors`` when given (its
        privileges are always the intersection with its owner's, as in Elasticsearch)."""
        if principal.auth_type == "api_key":
            raise ForbiddenError("an API key cannot create API keys")
        if principal.auth_type == "local" or principal.user_id is None:
            raise BadRequestError("API keys belong to a user; log in as one to create a key")
        self._require_own_keys(principal, "create API key")
        if not name.strip() or len(name) > MAX_KEY_NAME_LENGTH:
            raise BadRequestError("[name]: 1 to 1024 characters, not only spaces")
        descriptors = dict(role_descriptors or {})
        for descriptor_name, descriptor in descriptors.items():
            if not isinstance(descriptor, Mapping):
                raise BadRequestError(f"[role_descriptors.{descriptor_name}]: expected an object")
            try:
                privileges_of(descriptor)
            except BadRequestError as exc:
                raise BadRequestError(
                    f"[role_descriptors.{descriptor_name}] {exc.message}"
                ) from None
        now = datetime.now(UTC)
        expires_at = now + parse_expiration(expiration) if expiration else None
        key_id, secret = secrets.token_urlsafe(15), new_secret()
        await self._store.insert_api_key(
            StoredApiKey(
                key_id,
                name,
                principal.name,
                secret_digest(secret),
                {k: dict(v) for k, v in descriptors.items()} or None,
                now,
                expires_at,
                None,
                principal.user_id,
            )
        )
        self._audit.record(
            "api_key_create",
            "success",
            principal=principal,
            target=f"api_key:{key_id}",
            message=f"name: {name}",
        )
        return NewApiKey(key_id, name, secret, expires_at)

    async def list_api_keys(self, principal: Principal) -> list[StoredApiKey]:
        """Everyone's with ``manage_security``, else one's own."""
        self._require_own_keys(principal, "list API keys")
        if principal.has("cluster:manage_security"):
            return await self._store.list_api_keys()
        return await self._store.list_api_keys(principal.user_id or "")

    async def invalidate_api_keys(
        self, principal: Principal, ids: Sequence[str]
    ) -> tuple[list[str], list[str], list[str]]:
        """(invalidated, previously invalidated, not found among the keys one may touch)."""
        if not ids or not all(isinstance(i, str) and i for i in ids):
            raise BadRequestError("[ids]: expected a non-empty array of API key ids")
        self._require_own_keys(principal, "invalidate API keys")
        owner_id = None if principal.has("cluster:manage_security") else principal.user_id or ""
        fresh, stale = await self._store.invalidate_api_keys(ids, owner_id, datetime.now(UTC))
        missing = [i for i in ids if i not in fresh and i not in stale]
        if fresh:
            self._changed(principal, "api_key_invalidate", ",".join(f"api_key:{i}" for i in fresh))
        return fresh, stale, missing

    # audit log

    async def find_audit(
        self, principal: Principal, where: AuditFilter, *, page: int, per_page: int
    ) -> tuple[int, list[AuditEvent]]:
        self._require_manage(principal, "read the audit log", None)
        if page < 1 or not 1 <= per_page <= 10_000:
            raise BadRequestError("[page] must be ≥ 1 and [per_page] between 1 and 10000")
        return await self._audit.find(where, page=page, per_page=per_page)
