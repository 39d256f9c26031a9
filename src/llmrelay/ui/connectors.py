"""The connector pages: list, create, connector (with its test panel) and edit.

The server renders what it knows (the table, the connector, the form's fields as the type
describes them: ``ConnectorTypeInfo.form``); ``connector_form.js`` and ``connector_page.js`` then
call the public JSON API (``/api/actions/...``) to save, delete and run. Everything the page shows
or offers comes from ``ActionsClient`` (where authorisation is checked) and the principal's
privileges: without ``connectors:all`` there is no create, edit or delete control, and the usage
link appears only for ``may_view_usage``. No page names a connector type or a provider.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from llmrelay.actions_client import ActionsClient, Connector, may_view_usage
from llmrelay.auth import Principal, principal_of
from llmrelay.connectors import ConnectorForm, ConnectorTypeInfo
from llmrelay.errors import ForbiddenError, NotFoundError, UserError
from llmrelay.ui.assets import STATIC_PREFIX, asset_version
from llmrelay.ui.templating import environment

SORT_KEYS = ("name", "type", "provider", "host", "model")


def _actions(request: Request) -> ActionsClient:
    client: ActionsClient = request.app.state.services.actions
    return client


def _host(url: object) -> str:
    if not isinstance(url, str):
        return ""
    try:
        return urlsplit(url).netloc
    except ValueError:
        return ""


def _row(connector: Connector, types: dict[str, ConnectorTypeInfo]) -> dict[str, object]:
    info = types.get(connector.connector_type_id)
    form = info.form if info else None
    config = connector.config or {}
    return {
        "connector": connector,
        "type": info.name if info else connector.connector_type_id,
        "provider": str(config.get(form.variant_field, "")) if form else "",
        "host": _host(config.get(form.url_field)) if form and form.url_field else "",
        "model": str(config.get(form.model_field, "")) if form and form.model_field else "",
    }


def _matches(row: dict[str, object], query: str) -> bool:
    connector = row["connector"]
    assert isinstance(connector, Connector)
    texts = [connector.name, connector.id, *(str(row[k]) for k in SORT_KEYS[1:])]
    return any(query in text.lower() for text in texts)


def routes() -> list[BaseRoute]:
    templates = Jinja2Templates(env=environment())

    def page(
        request: Request, name: str, context: Mapping[str, object], status_code: int = 200
    ) -> Response:
        principal = principal_of(request.scope)
        base: dict[str, object] = {
            "static": STATIC_PREFIX,
            "version": asset_version(),
            "principal": principal,
            "may_manage": principal.has("connectors:all"),
            "may_view_usage": may_view_usage(principal),
        }
        return templates.TemplateResponse(
            request, name, {**base, **context}, status_code=status_code
        )

    def failure(request: Request, exc: UserError, title: str) -> Response:
        return page(
            request, "error.html", {"title": title, "message": exc.message}, exc.status_code
        )

    def types_of(principal: Principal, request: Request) -> dict[str, ConnectorTypeInfo]:
        return {info.id: info for info, _ in _actions(request).list_types(principal=principal)}

    async def home(request: Request) -> Response:
        return RedirectResponse("/app/connectors", status_code=303)

    async def list_page(request: Request) -> Response:
        principal = principal_of(request.scope)
        try:
            connectors = await _actions(request).get_all(principal=principal)
            types = types_of(principal, request)
        except UserError as exc:
            return failure(request, exc, "Cannot list the connectors")
        rows = [_row(c, types) for c in connectors]
        query = request.query_params.get("q", "").strip()
        if query:
            rows = [r for r in rows if _matches(r, query.lower())]
        sort = request.query_params.get("sort", "name")
        sort = sort if sort in SORT_KEYS else "name"
        descending = request.query_params.get("order") == "desc"

        def key(row: dict[str, object]) -> tuple[str, str]:
            connector = row["connector"]
            assert isinstance(connector, Connector)
            value = connector.name if sort == "name" else str(row[sort])
            return (value.lower(), connector.id)

        rows.sort(key=key, reverse=descending)
        context = {
            "rows": rows,
            "total": len(connectors),
            "query": query,
            "sort": sort,
            "descending": descending,
            "columns": {
                "name": "Name",
                "type": "Type",
                "provider": "Provider",
                "host": "URL host",
                "model": "Default model",
            },
        }
        return page(request, "connectors.html", context)

    async def new_page(request: Request) -> Response:
        principal = principal_of(request.scope)
        try:
            principal.require("connectors:all")
            types = types_of(principal, request)
        except UserError as exc:
            return failure(request, exc, "Cannot create a connector")
        with_form = {k: v for k, v in types.items() if v.form is not None}
        chosen = with_form.get(request.query_params.get("type", ""))
        if chosen is None:
            return page(request, "choose_type.html", {"types": list(with_form.values())})
        assert chosen.form is not None
        return form_page(request, chosen, chosen.form, None)

    def form_page(
        request: Request, info: ConnectorTypeInfo, form: ConnectorForm, connector: Connector | None
    ) -> Response:
        config = (connector.config or {}) if connector else {}
        variant = str(config.get(form.variant_field) or form.variants[0][0])
        context = {
            "info": info,
            "form": form,
            "connector": connector,
            "config": config,
            "variant": variant,
            "headers": config.get("headers") or {},
            "run_params": json.dumps(dict(form.run_params)),
        }
        return page(request, "connector_form.html", context)

    async def load(request: Request) -> tuple[Connector, ConnectorTypeInfo | None]:
        principal = principal_of(request.scope)
        connector = await _actions(request).get(
            request.path_params["connector_id"], principal=principal
        )
        return connector, types_of(principal, request).get(connector.connector_type_id)

    async def connector_page(request: Request) -> Response:
        try:
            connector, info = await load(request)
        except UserError as exc:
            return failure(request, exc, "Cannot show this connector")
        form = info.form if info else None
        context = {
            "connector": connector,
            "info": info,
            "form": form,
            "row": _row(connector, {info.id: info} if info else {}),
            "config_json": json.dumps(connector.config, indent=2) if connector.config else "",
            "run_params": json.dumps(dict(form.run_params)) if form else "",
        }
        return page(request, "connector.html", context)

    async def edit_page(request: Request) -> Response:
        principal = principal_of(request.scope)
        try:
            principal.require("connectors:all")
            connector, info = await load(request)
            if connector.is_preconfigured:
                raise ForbiddenError(
                    f"Preconfigured action {connector.id} can not be updated: it is declared "
                    "in the settings file (actions.preconfigured)."
                )
            if info is None or info.form is None:
                raise NotFoundError(f"Connector type {connector.connector_type_id} has no form.")
        except UserError as exc:
            return failure(request, exc, "Cannot edit this connector")
        return form_page(request, info, info.form, connector)

    return [
        Route("/", home, methods=["GET"]),
        Route("/app/connectors", list_page, methods=["GET"]),
        Route("/app/connectors/new", new_page, methods=["GET"]),
        Route("/app/connectors/{connector_id}", connector_page, methods=["GET"]),
        Route("/app/connectors/{connector_id}/edit", edit_page, methods=["GET"]),
    ]
