"""Health for load balancers, orchestrators and humans.

- ``GET /api/status``: ``available``, or ``degraded`` with the reasons while the event log or the
  audit log cannot write (full disk, database down); the writers' backlog and drop counts.
- ``GET /readyz``: 200 ``{"status": "ready"}``, or 503 with the reasons (the database does not
  answer, a writer cannot write): take the instance out of rotation.
- ``GET /livez``: 200 while the process serves requests; restart it only when this fails.

All three are open without credentials (``api.authentication.PUBLIC``), so where the database
is (its host, user or file path) is cut from their reasons: anyone can ask, and the server log
has the whole line.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from llmrelay import __version__
from llmrelay.batching import WriterHealth
from llmrelay.services import Services


def _writers(services: Services) -> list[WriterHealth]:
    return [services.events.health(), services.audit.health()]


def _public(reason: str, services: Services) -> str:
    return reason.replace(services.database.description, "database")


def _problem(health: WriterHealth, services: Services) -> str | None:
    if health.failing_reason is None:
        return None
    return (
        f"{health.name} cannot write for {health.failing_for_s:.0f} s "
        f"({_public(health.failing_reason, services)}); {health.backlog} waiting"
    )


def _wire(health: WriterHealth, services: Services) -> dict[str, object]:
    reason = health.failing_reason
    return {
        "writing": reason is None,
        "reason": None if reason is None else _public(reason, services),
        "backlog": health.backlog,
        "dropped": health.dropped,
        "rejected": health.rejected,
    }


async def status(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    writers = _writers(services)
    reasons = [problem for health in writers if (problem := _problem(health, services))]
    return JSONResponse(
        {
            "status": "degraded" if reasons else "available",
            "version": __version__,
            "reasons": reasons,
            "writers": {
                health.name.replace(" ", "_"): _wire(health, services) for health in writers
            },
        }
    )


async def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    unreachable = await services.database.unreachable()
    reasons = [_public(unreachable, services)] if unreachable else []
    reasons += [problem for health in _writers(services) if (problem := _problem(health, services))]
    if reasons:
        return JSONResponse({"status": "unavailable", "reasons": reasons}, status_code=503)
    return JSONResponse({"status": "ready"})


async def livez(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


routes: list[BaseRoute] = [
    Route("/api/status", status, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/livez", livez, methods=["GET"]),
]
