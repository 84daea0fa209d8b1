"""Errors to HTTP: every error response is `{"error": {"code", "message"}}`; no stack ever reaches a client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidpipe.db.database import database_unavailable
from vidpipe.errors import AuthError, StorageFullError, VidpipeError, storage_error

log = logging.getLogger("vidpipe.api")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "limit_exceeded", 415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _headers(exc: VidpipeError) -> dict[str, str] | None:
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": "Bearer"}
    retry_after = getattr(exc, "retry_after_seconds", None)
    if exc.http_status == 503 and retry_after:
        return {"Retry-After": str(retry_after)}
    return None


def outage(exc: BaseException) -> VidpipeError | None:
    """Our 503 error when `exc` means the database or the media store is unavailable (or full), else None."""
    if isinstance(exc, OSError) and isinstance(storage_error(exc, "x"), StorageFullError):
        return storage_error(exc, "the request could not be stored")
    return database_unavailable(exc)


async def _vidpipe_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VidpipeError)
    if exc.http_status >= 500:
        log.warning("api.error", extra={"code": exc.code, "error": exc.message, "path": request.url.path})
    return error_response(exc.http_status, exc.code, exc.message, _headers(exc))


async def _outage_error(request: Request, exc: Exception) -> JSONResponse:
    """Database errors: an outage is a 503 with Retry-After; any other (a bug) stays a logged 500."""
    mapped = outage(exc)
    if mapped is None:
        raise exc
    return await _vidpipe_error(request, mapped)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return error_response(422, "validation_error", "; ".join(parts) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


class CatchUnexpected:
    """Pure ASGI middleware: an unexpected exception becomes a logged 500 with a fixed body.

    (Starlette's handler for `Exception` re-raises after responding, so the server would log it twice.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            mapped = outage(exc)  # e.g. raised by a dependency or middleware, outside the exception handlers
            if mapped is not None and not started:
                log.warning("api.error", extra={"code": mapped.code, "path": scope.get("path")})
                await error_response(mapped.http_status, mapped.code, mapped.message, _headers(mapped))(
                    scope, receive, send)
                return
            log.exception("api.unhandled", extra={"path": scope.get("path"), "method": scope.get("method")})
            if started:  # too late for a clean error response; let the server drop the connection
                raise
            await error_response(500, "internal", "internal error")(scope, receive, send)


def install(app: FastAPI) -> None:
    import psycopg
    from sqlalchemy import exc as sa_exc

    app.add_exception_handler(VidpipeError, _vidpipe_error)
    # A full disk (OSError) is mapped by CatchUnexpected only: a handler here would also see a client's
    # ConnectionResetError in the middle of a streamed response.
    for outage_type in (sa_exc.DBAPIError, sa_exc.TimeoutError, psycopg.Error):
        app.add_exception_handler(outage_type, _outage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(CatchUnexpected)
