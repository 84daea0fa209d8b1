"""Liveness and readiness probes (no API key: load balancers and orchestrators call them)."""

from __future__ import annotations

import logging
import shutil

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from vidpipe.api.deps import RuntimeDep
from vidpipe.db import migrate
from vidpipe.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


def low_disk(rt: Runtime) -> list[str]:
    """Local disks (media store, scratch) with less free space than `ready_min_free_bytes`; no paths shown."""
    need = rt.settings.ready_min_free_bytes
    disks = {"media store": getattr(rt.media_store, "root", None), "scratch space": rt.settings.scratch_root}
    problems = []
    for name, path in disks.items():
        try:
            free = shutil.disk_usage(path).free if path is not None else None
        except OSError:  # not created yet (no worker ran here) or unreadable: nothing to measure
            continue
        if free is not None and free < need:
            problems.append(f"{name} low on space: {free // 2**20} MiB free, {need // 2**20} MiB required")
    return problems


@router.get("/readyz", responses={503: {"description": "Not ready, with the reasons"}})
def readyz(rt: RuntimeDep) -> JSONResponse:
    """Ready for traffic: the database answers and is migrated, the media store takes writes and has room."""
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
        with rt.media_store.open_staging(16) as staging:  # never committed: discarded on exit
            staging.write(b"ready")
    except Exception as exc:
        log.warning("readyz.media_store", extra={"error": str(exc)})
        problems.append(f"media store not writable: {type(exc).__name__}")
    problems += low_disk(rt)
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503,
                            headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready"})
