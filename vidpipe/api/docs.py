"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from the vendored copies in /static/vendor, so they work offline
and never load code from another origin (FastAPI's defaults come from a CDN)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"
NO_ICON = "data:,"  # the defaults point at a remote favicon


def install(app: FastAPI) -> None:
    """Serve the two documentation pages for `app.openapi_url` (build the app with docs_url/redoc_url None)."""
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=title,
                                   swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{VENDOR}/swagger-ui.css", swagger_favicon_url=NO_ICON)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=title,
                              redoc_js_url=f"{VENDOR}/redoc.standalone.js", redoc_favicon_url=NO_ICON,
                              with_google_fonts=False)
