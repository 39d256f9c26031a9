"""Security routes, shaped like Kibana's and Elasticsearch's.

- ``POST /internal/security/login``, ``POST /api/security/logout``, ``GET /internal/security/me``
- users: ``/internal/security/users[/{username}]`` and ``.../change_password`` (Kibana)
- roles: ``/api/security/role[/{name}]`` (Kibana's role API)
- API keys: ``POST|GET|DELETE /api/security/api_key`` (Elasticsearch's bodies and answers)
- audit log: ``GET /api/security/audit/_find``
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from llmrelay.api.event_log import _number, _time
from llmrelay.api.wire import parse_body, read_json
from llmrelay.auth import (
    SESSION_COOKIE,
    AuditFilter,
    Principal,
    SecurityAdmin,
    api_key_to_wire,
    principal_of,
    role_to_wire,
    session_cookie_attributes,
    user_to_wire,
)
from llmrelay.errors import BadRequestError, NotFoundError
from llmrelay.settings import Settings


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LoginParams(_Body):
    username: str
    password: str


class LoginBody(_Body):
    providerType: str = "basic"
    providerName: str = "basic"
    currentURL: str = "/"
    params: LoginParams


class UserBody(_Body):
    username: str | None = None
    password: str | None = None
    roles: list[str] = []
    full_name: str | None = None
    email: str | None = None
    enabled: bool = True
    metadata: dict[str, Any] = {}


class ChangePasswordBody(_Body):
    password: str | None = None
    newPassword: str


class RoleBody(_Body):
    elasticsearch: dict[str, Any] = {}
    kibana: list[Any] = []
    metadata: dict[str, Any] = {}
    description: str | None = None


class ApiKeyBody(_Body):
    name: str
    expiration: str | None = None
    role_descriptors: dict[str, dict[str, Any]] = {}
    metadata: dict[str, Any] = {}


class InvalidateBody(_Body):
    ids: list[str]


def security_of(request: Request) -> SecurityAdmin:
    admin: SecurityAdmin = request.app.state.services.security
    return admin


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    settings: Settings = request.app.state.services.settings
    attributes = session_cookie_attributes(settings.security, request.url.scheme == "https")
    response.set_cookie(SESSION_COOKIE, session_id, **attributes)  # type: ignore[arg-type]


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


async def login(request: Request) -> Response:
    body = parse_body(LoginBody, await read_json(request))
    if body.providerType != "basic":
        raise BadRequestError(f"[providerType]: unknown provider type [{body.providerType}]")
    authenticator = request.app.state.services.authenticator
    peer, forwarded = authenticator.addresses.of(request.scope)
    _, session_id = await authenticator.login(
        body.params.username, body.params.password, peer, forwarded
    )
    url = body.currentURL
    local = url.startswith("/") and not url.startswith("//") and "\\" not in url
    location = url if local else "/"  # never send the browser to another site
    response = JSONResponse({"location": location})
    set_session_cookie(response, request, session_id)
    return response


async def logout(request: Request) -> Response:
    await request.app.state.services.authenticator.logout(principal_of(request.scope))
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


def me_to_wire(principal: Principal) -> dict[str, object]:
    return {
        "username": principal.name,
        "roles": list(principal.roles),
        "authentication_type": principal.auth_type,
        "authentication_realm": {"name": "native", "type": "native"},
        "api_key": {"id": principal.api_key_id} if principal.api_key_id else None,
        "privileges": sorted(principal.privileges),
    }


async def me(request: Request) -> JSONResponse:
    return JSONResponse(me_to_wire(principal_of(request.scope)))


async def list_users(request: Request) -> JSONResponse:
    users = await security_of(request).list_users(principal_of(request.scope))
    return JSONResponse([user_to_wire(u) for u in users])


async def get_user(request: Request) -> JSONResponse:
    username = request.path_params["username"]
    user = await security_of(request).get_user(principal_of(request.scope), username)
    return JSONResponse(user_to_wire(user))


async def put_user(request: Request) -> JSONResponse:
    username = request.path_params["username"]
    body = parse_body(UserBody, await read_json(request))
    if body.username is not None and body.username != username:
        raise BadRequestError("[username]: must match the user name in the path")
    admin = security_of(request)
    principal = principal_of(request.scope)
    await admin.put_user(
        principal,
        username,
        password=body.password,
        roles=body.roles,
        full_name=body.full_name,
        email=body.email,
        enabled=body.enabled,
    )
    return JSONResponse(user_to_wire(await admin.get_user(principal, username)))


async def delete_user(request: Request) -> Response:
    username = request.path_params["username"]
    await security_of(request).delete_user(principal_of(request.scope), username)
    return Response(status_code=204)


async def change_password(request: Request) -> Response:
    body = parse_body(ChangePasswordBody, await read_json(request))
    await security_of(request).change_password(
        principal_of(request.scope),
        request.path_params["username"],
        current=body.password,
        new=body.newPassword,
    )
    return Response(status_code=204)


async def list_roles(request: Request) -> JSONResponse:
    roles = await security_of(request).list_roles(principal_of(request.scope))
    return JSONResponse([role_to_wire(r) for r in roles])


async def get_role(request: Request) -> JSONResponse:
    role = await security_of(request).get_role(
        principal_of(request.scope), request.path_params["name"]
    )
    return JSONResponse(role_to_wire(role))


async def put_role(request: Request) -> Response:
    body = parse_body(RoleBody, await read_json(request))
    definition = body.model_dump(exclude_defaults=True)
    await security_of(request).put_role(
        principal_of(request.scope), request.path_params["name"], definition
    )
    return Response(status_code=204)


async def delete_role(request: Request) -> Response:
    await security_of(request).delete_role(principal_of(request.scope), request.path_params["name"])
    return Response(status_code=204)


async def create_api_key(request: Request) -> JSONResponse:
    body = parse_body(ApiKeyBody, await read_json(request))
    created = await security_of(request).create_api_key(
        principal_of(request.scope),
        name=body.name,
        expiration=body.expiration,
        role_descriptors=body.role_descriptors,
    )
    return JSONResponse(created.to_wire())


async def list_api_keys(request: Request) -> JSONResponse:
    keys = await security_of(request).list_api_keys(principal_of(request.scope))
    return JSONResponse({"api_keys": [api_key_to_wire(k) for k in keys]})


async def invalidate_api_keys(request: Request) -> JSONResponse:
    body = parse_body(InvalidateBody, await read_json(request))
    fresh, stale, missing = await security_of(request).invalidate_api_keys(
        principal_of(request.scope), body.ids
    )
    if not fresh and not stale:
        raise NotFoundError("no API key found for the given ids")
    return JSONResponse(
        {
            "invalidated_api_keys": fresh,
            "previously_invalidated_api_keys": stale,
            "error_count": len(missing),
            "error_details": [{"id": i, "reason": "API key not found"} for i in missing],
        }
    )


AUDIT_PARAMETERS = frozenset({"start", "end", "action", "user", "outcome", "page", "per_page"})


async def find_audit(request: Request) -> JSONResponse:
    params = dict(request.query_params)
    unknown = sorted(set(params) - AUDIT_PARAMETERS)
    if unknown:
        raise BadRequestError(f"[{unknown[0]}]: definition for this key is missing")
    where = AuditFilter(
        start=_time("start", params.get("start")),
        end=_time("end", params.get("end")),
        action=params.get("action"),
        user_name=params.get("user"),
        outcome=params.get("outcome"),
    )
    page = _number("page", params.get("page"), 1)
    per_page = _number("per_page", params.get("per_page"), 20)
    total, events = await security_of(request).find_audit(
        principal_of(request.scope), where, page=page, per_page=per_page
    )
    return JSONResponse(
        {"page": page, "per_page": per_page, "total": total, "data": [e.to_wire() for e in events]}
    )


_USERS = "/internal/security/users"
routes: list[BaseRoute] = [
    Route("/internal/security/login", login, methods=["POST"]),
    Route("/api/security/logout", logout, methods=["POST"]),
    Route("/internal/security/me", me, methods=["GET"]),
    Route(_USERS, list_users, methods=["GET"]),
    Route(f"{_USERS}/{{username}}", get_user, methods=["GET"]),
    Route(f"{_USERS}/{{username}}", put_user, methods=["POST"]),
    Route(f"{_USERS}/{{username}}", delete_user, methods=["DELETE"]),
    Route(f"{_USERS}/{{username}}/change_password", change_password, methods=["POST"]),
    Route("/api/security/role", list_roles, methods=["GET"]),
    Route("/api/security/role/{name}", get_role, methods=["GET"]),
    Route("/api/security/role/{name}", put_role, methods=["PUT"]),
    Route("/api/security/role/{name}", delete_role, methods=["DELETE"]),
    Route("/api/security/api_key", create_api_key, methods=["POST"]),
    Route("/api/security/api_key", list_api_keys, methods=["GET"]),
    Route("/api/security/api_key", invalidate_api_keys, methods=["DELETE"]),
    Route("/api/security/audit/_find", find_audit, methods=["GET"]),
]
