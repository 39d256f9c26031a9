"""Liveness for load balancers and humans."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from llmrelay import __version__

router = APIRouter()


@router.get("/api/status")
async def status() -> JSONResponse:
    return JSONResponse({"status": "available", "version": __version__})
