"""Who is asking: HTTP Basic, ``ApiKey`` (Elasticsearch's form) or a UI session cookie.

Every request is authenticated, so the common case must cost microseconds: a credential that
was verified in the last ``authc_cache_ttl_s`` is found in memory under a keyed BLAKE2b digest
of the header (never the secret itself as a key), and only a miss reads the database or runs
argon2. Any change to users, roles or keys made through this process empties the cache at once;
a change made by another instance is seen after at most the TTL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from llmrelay.auth.addresses import ClientAddresses
from llmrelay.auth.audit import AuditLog
from llmrelay.auth.passwords import PasswordHashing, new_secret, same_digest, secret_digest
from llmrelay.auth.privileges import AuthType, Principal, Privilege, privileges_of
from llmrelay.auth.roles import RoleRegistry
from llmrelay.auth.throttle import LoginThrottle
from llmrelay.errors import UnauthorizedError
from llmrelay.settings.models import SecuritySettings
from llmrelay.storage import SecurityStore, StoredApiKey, StoredSession, StoredUser

MAX_CACHED = 10_000
BAD_CREDENTIALS = "unable to authenticate with the provided credentials"


@dataclass(slots=True)
class _Identity:
    name: str
    auth_type: AuthType
    roles: tuple[str, ...]
    privileges: frozenset[Privilege]
    api_key_id: str | None
    valid_until: float
    user_id: str
    last: Principal | None = None
    """The principal made last: a cached credential is usually used from one address, and
    reusing the (immutable) principal keeps the cached path at a dictionary lookup."""

    def principal(self, address: str | None, forwarded: str | None) -> Principal:
        last = self.last
        if (
            last is not None
            and last.client_address == address
            and last.forwarded_address == forwarded
        ):
            return last
        self.last = Principal(
            self.name,
            self.auth_type,
            self.roles,
            self.privileges,
            address,
            self.api_key_id,
            user_id=self.user_id,
            forwarded_address=forwarded,
        )
        return self.last


def _decode(value: str, what: str, pair: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UnauthorizedError(f"malformed {what} credentials: expected base64") from None
    first, colon, second = text.partition(":")
    if not colon or not first:
        raise UnauthorizedError(f"malformed {what} credentials: expected base64 of {pair}")
    return first, second


class Authenticator:
    def __init__(
        self,
        *,
        store: SecurityStore,
        roles: RoleRegistry,
        hashing: PasswordHashing,
        throttle: LoginThrottle,
        audit: AuditLog,
        settings: SecuritySettings,
        addresses: ClientAddresses | None = None,
    ) -> None:
        self.addresses = addresses or ClientAddresses()
        """Reads a request's peer and forwarded addresses (``server.trusted_proxies``)."""
        self._store = store
        self._roles = roles
        self._hashing = hashing
        self._throttle = throttle
        self._audit = audit
        self._settings = settings
        self._cache: dict[bytes, _Identity] = {}
        self._verifying: dict[bytes, asyncio.Future[_Identity]] = {}
        """Verifications in flight, by credential digest: concurrent requests with the same
        credentials share one (an expired cache entry of a busy client would otherwise cost an
        argon2 hash, or two database reads, per request waiting)."""
        self._cache_key = os.urandom(32)
        self._generation = 0
        """Bumped by ``invalidate``: a verification that began before a change is not cached."""

    def invalidate(self) -> None:
        """Forget every verified credential (a user, role or key changed)."""
        self._generation += 1
        self._cache.clear()
        self._verifying.clear()

    async def authenticate(
        self,
        authorization: str | None,
        session_cookie: str | None,
        address: str | None,
        forwarded: str | None = None,
    ) -> Principal:
        """Raise ``UnauthorizedError`` unless the request carries valid credentials.

        ``address`` is the TCP peer; ``forwarded`` the client address a trusted proxy sent
        (``auth.addresses``), which is then the one throttled."""
        if authorization is not None:
            digest = hashlib.blake2b(
                authorization.encode(), key=self._cache_key, digest_size=16
            ).digest()
            cached = self._cache.get(digest)
            if cached is not None and cached.valid_until > time.monotonic():
                return cached.principal(address, forwarded)
            pending = self._verifying.get(digest)
            if pending is None:  # else the same credentials are being checked: share the answer
                pending = asyncio.ensure_future(
                    self._verify(authorization, digest, address, forwarded)
                )
                self._verifying[digest] = pending
                pending.add_done_callback(partial(self._verified, digest))
            identity = await asyncio.shield(pending)
            return identity.principal(address, forwarded)
        if session_cookie:
            return await self._session(session_cookie, address, forwarded)
        raise UnauthorizedError("missing authentication credentials")

    async def _verify(
        self, authorization: str, digest: bytes, address: str | None, forwarded: str | None
    ) -> _Identity:
        generation = self._generation
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            identity = await self._basic(value, address, forwarded)
        elif scheme == "apikey":
            identity = await self._api_key(value, address, forwarded)
        else:
            raise UnauthorizedError(
                "unsupported authentication scheme; use Basic or ApiKey credentials"
            )
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        if generation == self._generation:
            self._cache[digest] = identity
        return identity

    def _verified(self, digest: bytes, verification: asyncio.Future[_Identity]) -> None:
        if self._verifying.get(digest) is verification:
            del self._verifying[digest]
        if not verification.cancelled():
            verification.exception()  # retrieved here too, in case every caller gave up

    async def _user_identity(self, user: StoredUser, auth_type: AuthType) -> _Identity:
        privileges = await self._roles.privileges_for(user.roles)
        valid_until = time.monotonic() + self._settings.authc_cache_ttl_s
        return _Identity(
            user.username, auth_type, user.roles, privileges, None, valid_until, user.id
        )

    async def _verify_password(
        self, username: str, password: str, address: str | None, forwarded: str | None
    ) -> StoredUser:
        async with self._throttle.attempt(username, forwarded or address):
            user = await self._store.get_user(username)
            ok = await self._hashing.verify(user.password_hash if user else None, password)
            if user is None or not ok or not user.enabled:
                self._throttle.failed(username, forwarded or address)
                self._audit.record(
                    "authentication_failed",
                    "failure",
                    user_name=username,
                    client_address=address,
                    forwarded_address=forwarded,
                    message="wrong user name or password, or the user is disabled",
                )
                raise UnauthorizedError(BAD_CREDENTIALS)
            self._throttle.succeeded(username, forwarded or address)
        if self._hashing.needs_rehash(user.password_hash):
            await self._store.update_user(
                username, password_hash=await self._hashing.hash(password)
            )
        return user

    async def _basic(self, value: str, address: str | None, forwarded: str | None) -> _Identity:
        username, password = _decode(value, "Basic", "username:password")
        user = await self._verify_password(username, password, address, forwarded)
        identity = await self._user_identity(user, "basic")
        self._audit.record(
            "authentication_success",
            "success",
            principal=identity.principal(address, forwarded),
            message="basic",
        )
        return identity

    async def _api_key(self, value: str, address: str | None, forwarded: str | None) -> _Identity:
        key_id, secret = _decode(value, "ApiKey", "id:api_key")  # never throttled: see throttle.py
        key = await self._store.get_api_key(key_id)
        now = datetime.now(UTC)
        digest = secret_digest(secret)
        valid = (
            key is not None
            and same_digest(key.secret_hash, digest)
            and key.invalidated_at is None
            and (key.expires_at is None or key.expires_at > now)
        )
        owner = (
            await self._store.get_user_by_id(key.owner_id)
            if key is not None and key.owner_id is not None and valid
            else None
        )
        if key is None or owner is None or not owner.enabled or not valid:
            self._audit.record(
                "authentication_failed",
                "failure",
                client_address=address,
                forwarded_address=forwarded,
                target=f"api_key:{key_id}",
                message="unknown, expired or invalidated API key, or its owner is gone",
            )
            raise UnauthorizedError(BAD_CREDENTIALS)
        return await self._key_identity(key, owner, now)

    async def _key_identity(self, key: StoredApiKey, owner: StoredUser, now: datetime) -> _Identity:
        privileges = await self._roles.privileges_for(owner.roles)
        if key.role_descriptors:
            limited: set[Privilege] = set()
            for descriptor in key.role_descriptors.values():
                limited |= privileges_of(descriptor)
            privileges = privileges & frozenset(limited)
        ttl_s = self._settings.authc_cache_ttl_s
        if key.expires_at is not None:
            ttl_s = min(ttl_s, (key.expires_at - now).total_seconds())
        return _Identity(
            owner.username,
            "api_key",
            owner.roles,
            privileges,
            key.id,
            time.monotonic() + ttl_s,
            owner.id,
        )

    # sessions

    async def login(
        self, username: str, password: str, address: str | None, forwarded: str | None = None
    ) -> tuple[Principal, str]:
        """A new session for a good user name and password; returns the cookie value."""
        user = await self._verify_password(username, password, address, forwarded)
        session_id = new_secret()
        now = datetime.now(UTC)
        digest = secret_digest(session_id)
        timeouts = self._settings.session
        await self._store.delete_sessions_before(  # expired ones are purged at each login
            now - timedelta(seconds=timeouts.lifespan_s),
            now - timedelta(seconds=timeouts.idle_timeout_s),
        )
        await self._store.create_session(StoredSession(digest, user.username, now, now, user.id))
        identity = await self._user_identity(user, "session")
        principal = identity.principal(address, forwarded)
        self._audit.record("login", "success", principal=principal, message="session created")
        return Principal(
            principal.name,
            "session",
            principal.roles,
            principal.privileges,
            address,
            session_id_digest=digest,
            user_id=user.id,
            forwarded_address=forwarded,
        ), session_id

    async def logout(self, principal: Principal) -> None:
        if principal.session_id_digest is not None:
            await self._store.delete_session(principal.session_id_digest)
            self._audit.record("logout", "success", principal=principal, message="session ended")

    async def _session(
        self, session_id: str, address: str | None, forwarded: str | None
    ) -> Principal:
        digest = secret_digest(session_id)
        session = await self._store.get_session(digest)
        now = datetime.now(UTC)
        timeouts = self._settings.session
        if session is not None and (
            now - session.created_at > timedelta(seconds=timeouts.lifespan_s)
            or now - session.last_seen_at > timedelta(seconds=timeouts.idle_timeout_s)
        ):
            await self._store.delete_session(digest)
            session = None
        user = await self._store.get_user_by_id(session.user_id) if session is not None else None
        if session is None or user is None or not user.enabled:
            raise UnauthorizedError("the session has expired or ended; log in again")
        if now - session.last_seen_at > timedelta(seconds=min(60.0, timeouts.idle_timeout_s / 100)):
            await self._store.touch_session(digest, now)
        privileges = await self._roles.privileges_for(user.roles)
        return Principal(
            user.username,
            "session",
            user.roles,
            privileges,
            address,
            session_id_digest=digest,
            user_id=user.id,
            forwarded_address=forwarded,
        )


def session_cookie_attributes(settings: SecuritySettings, https: bool) -> dict[str, object]:
    """Keyword arguments for Starlette's ``set_cookie`` of the session cookie: HttpOnly,
    SameSite from the settings, Secure over HTTPS (or always, with ``secure_cookies``)."""
    return {
        "max_age": max(1, math.ceil(settings.session.lifespan_s)),
        "path": "/",
        "httponly": True,
        "samesite": settings.same_site_cookies.lower(),
        "secure": settings.secure_cookies or https,
    }
