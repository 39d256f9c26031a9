"""Static files of the pages: our own scripts and styles, and plotly.js from the ``plotly`` wheel.

plotly.js is served from where pip installed it (``plotly/package_data/plotly.min.js``), never from
a CDN and never copied into this repository, so the pages work on a machine with no internet.
"""

from __future__ import annotations

from importlib import metadata, resources
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

STATIC_PREFIX = "/app/static"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
CACHE_CONTROL = "public, max-age=3600"


def _files() -> dict[str, Path]:
    own = resources.files("llmrelay.ui") / "static"
    plotly = resources.files("plotly") / "package_data" / "plotly.min.js"
    files = {"plotly.min.js": Path(str(plotly))}
    for entry in own.iterdir():
        if entry.name.endswith((".js", ".css")):
            files[entry.name] = Path(str(entry))
    return files


def asset_version() -> str:
    """Appended to asset URLs as ``?v=``, so an upgrade is not hidden by a browser cache."""
    return f"{metadata.version('llmrelay')}-{metadata.version('plotly')}"


def routes() -> list[BaseRoute]:
    files = _files()

    async def static_file(request: Request) -> Response:
        path = files.get(request.path_params["name"])
        if path is None:
            raise HTTPException(404)
        return FileResponse(
            path,
            media_type=MEDIA_TYPES[path.suffix],
            headers={
                "cache-control": CACHE_CONTROL
            },  # nosniff and CSP: api.guards.PageSecurityHeaders
        )

    return [Route(f"{STATIC_PREFIX}/{{name}}", static_file, methods=["GET"])]
