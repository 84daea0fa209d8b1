"""Liveness and readiness probes (no API key: load balancers and orchestrators call them)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from vidpipe.api.deps import RuntimeDep
from vidpipe.store import migrate

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready, with the reasons"}})
def readyz(rt: RuntimeDep) -> JSONResponse:
    """Ready for traffic: the database answers and is migrated, the media store takes writes."""
    problems: list[str] = []
    try:
        with rt.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        if not migrate.is_up_to_date(rt.db.url):
            problems.append("database schema is not up to date (run `vidpipe db upgrade`)")
    except Exception as exc:
        log.warning("readyz.database", extra={"error": str(exc)})
        problems.append(f"database unreachable: {type(exc).__name__}")
    try:
        with rt.blobs.open_staging(16) as staging:  # never committed: discarded on exit
            staging.write(b"ready")
    except Exception as exc:
        log.warning("readyz.media_store", extra={"error": str(exc)})
        problems.append(f"media store not writable: {type(exc).__name__}")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
