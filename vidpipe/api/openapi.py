"""Keeping the OpenAPI document truthful, and hostile request lines out.

- `RejectNul`: a NUL character in the path or the query string is refused with 422 before any route runs
  (PostgreSQL text cannot hold one; without this, a dozen routes answered 500). Bodies are validated by their
  models (vidpipe.api.schemas.Text).
- `method_not_allowed`: 405 with an `Allow` header naming every method of the path (Starlette names only the
  methods of the first route that matched the path).
- `truthful_openapi`: the schema FastAPI generates, plus what every route really can answer (401, 403, 413, 422,
  429, 503 and 400 for an unreadable body), `NO_NUL` on string parameters, and limits that come from settings.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from vidpipe.api.schemas import NO_NUL
from vidpipe.settings import Settings

_ERROR_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
COMMON_RESPONSES = {
    "400": "Unreadable request (a body that is not what its Content-Type says, an unsafe source)",
    "401": "Missing or invalid API key (or browser session)",
    "403": "The key's role does not allow this (or a browser session's CSRF check failed)",
    "413": "Request body over the limit for this route",
    "422": "Invalid parameters or body",
    "429": "Over the key's rate limit (Retry-After)",
    "503": "A service the request needs (database, media store) is unavailable; retry later",
}
_PUBLIC = ("/healthz", "/readyz", "/metrics")  # probes and scrapers: only what they answer


class RejectNul:
    """Pure ASGI middleware: 422 for a NUL character in the path or query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or _has_nul(scope.get("query_string", b""))):
            await JSONResponse({"error": {"code": "validation_error",
                                          "message": "NUL characters are not accepted in URLs"}},
                               status_code=422)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _has_nul(query: bytes) -> bool:
    return b"\x00" in query or b"%00" in query.lower()


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    methods = [m for m in _METHODS
               if any(route.matches({**request.scope, "method": m})[0] == Match.FULL
                      for route in request.app.router.routes)]
    allow = ", ".join(methods)
    return JSONResponse({"error": {"code": "method_not_allowed", "message": f"use one of: {allow}"}},
                        status_code=405, headers={"Allow": allow})


def truthful_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, item in schema["paths"].items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if not path.startswith(_PUBLIC):
                for status, description in COMMON_RESPONSES.items():
                    operation["responses"].setdefault(status, {"description": description, **_ERROR_REF})
            for param in operation.get("parameters", []):
                _forbid_nul(param.get("schema", {}))
    _apply_settings(schema, settings)
    app.openapi_schema = schema
    return schema


def _forbid_nul(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "string" and "format" not in option and "enum" not in option:
            option.setdefault("pattern", NO_NUL)
        if option.get("type") == "array":
            _forbid_nul(option.get("items", {}))


def _apply_settings(schema: dict[str, Any], settings: Settings) -> None:
    """Limits that are configuration, not code: the largest upload a client may announce."""
    components = schema.get("components", {}).get("schemas", {})
    size = components.get("UploadCreate", {}).get("properties", {}).get("size")
    if size is not None:
        size["maximum"] = settings.limits.max_upload_bytes
    from vidpipe.analysis.registry import analyzer_names  # the analyzers this installation has
    from vidpipe.search.query import MODALITIES  # searchable here: those whose embedder is configured

    configured = settings.understanding.embedders
    searchable = [m for m, (embedder, _) in MODALITIES.items() if embedder in configured] + ["all"]
    for param in schema["paths"].get("/v1/search", {}).get("get", {}).get("parameters", []):
        if param["name"] == "modality":
            param["schema"]["enum"] = searchable
            param["description"] = "Other modalities need their embedder in VIDPIPE_EMBEDDERS (422 otherwise)"

    for path in ("/v1/profiles/{name}",):
        body = schema["paths"].get(path, {}).get("put", {}).get("requestBody", {})
        analyzers = body.get("content", {}).get("application/json", {}).get("schema", {}).get("properties", {}) \
            .get("analyzers", {})
        for option in analyzers.get("anyOf", []):
            if option.get("type") == "array":
                option["items"] = {"type": "string", "enum": list(analyzer_names())}
