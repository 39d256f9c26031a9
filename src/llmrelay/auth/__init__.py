"""Authentication and authorisation: principals, privileges, roles, API keys, sessions, audit.

Entry points authenticate a request into a :class:`Principal`; use cases (``ActionsClient``,
:class:`SecurityAdmin`) check its privileges before they touch anything.
"""

from __future__ import annotations

from llmrelay.auth.addresses import ClientAddresses
from llmrelay.auth.admin import (
    NewApiKey,
    SecurityAdmin,
    api_key_to_wire,
    role_to_wire,
    user_to_wire,
)
from llmrelay.auth.audit import AuditEvent, AuditFilter, AuditLog
from llmrelay.auth.authenticator import Authenticator, session_cookie_attributes
from llmrelay.auth.passwords import PasswordHashing
from llmrelay.auth.privileges import (
    ALL_PRIVILEGES,
    PRINCIPAL_SCOPE_KEY,
    SESSION_COOKIE,
    Principal,
    Privilege,
    Role,
    principal_of,
)
from llmrelay.auth.roles import RoleRegistry
from llmrelay.auth.throttle import LoginThrottle

__all__ = [
    "ALL_PRIVILEGES",
    "PRINCIPAL_SCOPE_KEY",
    "SESSION_COOKIE",
    "AuditEvent",
    "AuditFilter",
    "AuditLog",
    "Authenticator",
    "ClientAddresses",
    "LoginThrottle",
    "NewApiKey",
    "PasswordHashing",
    "Principal",
    "Privilege",
    "Role",
    "RoleRegistry",
    "SecurityAdmin",
    "api_key_to_wire",
    "principal_of",
    "role_to_wire",
    "session_cookie_attributes",
    "user_to_wire",
]
