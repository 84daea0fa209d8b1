"""Builds the FastAPI application around a Runtime made by the entry point (no globals, no environment)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import anyio
from fastapi import FastAPI

from vidpipe.api import docs, handlers, limits, openapi, sessions
from vidpipe.api.fastpath import FastAssetReads
from vidpipe.api.limits import BodyLimit
from vidpipe.api.routers import (
    assets,
    downloads,
    health,
    jobs,
    live,
    media,
    metrics,
    popular,
    profiles,
    reprocess,
    stills,
    uploads,
)
from vidpipe.api.routers import search as search_router
from vidpipe.cache import background
from vidpipe.cache.http import rate_limited
from vidpipe.cache.ratelimit import RateLimitedError
from vidpipe.runtime import Runtime

DESCRIPTION = """\
Ingest media, follow its processing and fetch the outputs.

Every `/v1` route needs an API key (`vidpipe keys create <name> --role read|ingest|admin`), sent as
`Authorization: Bearer <key>` or `X-API-Key: <key>`; never in a URL. Roles: `read` (metadata, search,
playback links), `ingest` (+ create assets and uploads), `admin` (+ edit, delete, reprocess, jobs, profiles);
a key without the role a route needs gets 403 `forbidden`.

Players and embeds need no key: an asset's `playback` object (and `GET /v1/assets/{id}/playback`) holds
signed, expiring URLs of its HLS master playlist, poster, scrub previews and original.

Errors are always `{"error": {"code": "...", "message": "..."}}`.
"""

# Uploads hold a worker thread for as long as the client sends; they get their own budget so they
# cannot starve the thread pool that serves the short requests.
UPLOAD_CONCURRENCY = 16
# Closing request sessions gets its own threads (see deps.get_session).
CLOSE_THREADS = 8


def create_api(runtime: Runtime, *, console: Callable[[FastAPI], None] | None = None) -> FastAPI:
    """The API; `console` adds the web console's pages and files (vidpipe.server passes vidpipe.web's)."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # What is loaded by now lives as long as the process: keep it out of the collector's full passes
        # (tens of ms each with everything imported, a latency spike on whichever requests are in flight).
        gc.collect()
        gc.freeze()
        # Cache invalidation listener, view counts, warming the hottest assets (vidpipe.cache.background).
        async with background.running(runtime, partial(assets.load_entry, runtime)), live.running(app, runtime):
            yield

    app = FastAPI(title="vidpipe", version="1", description=DESCRIPTION, docs_url=None,
                  openapi_url="/openapi.json", redoc_url=None, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.upload_limiter = anyio.CapacityLimiter(UPLOAD_CONCURRENCY)
    app.state.close_limiter = anyio.CapacityLimiter(CLOSE_THREADS)
    handlers.install(app)
    app.add_exception_handler(405, openapi.method_not_allowed)  # Allow: every method of the path
    app.add_middleware(openapi.RejectNul)
    # FastAPI's documented way to customise the schema is to replace the method on the instance
    app.openapi = partial(openapi.truthful_openapi, app, runtime.settings)  # type: ignore[method-assign]
    docs.install(app)  # /docs and /redoc from vendored files (offline)
    app.add_exception_handler(RateLimitedError, rate_limited)  # 429 with Retry-After
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(assets.router, prefix="/v1")
    app.include_router(jobs.router, prefix="/v1")
    app.include_router(media.router, prefix="/v1")
    app.include_router(media.play_router, prefix="/v1")
    app.include_router(reprocess.router, prefix="/v1")
    app.include_router(search_router.router, prefix="/v1")
    app.include_router(popular.router, prefix="/v1")
    if console is not None:
        console(app)  # the web console: pages at /, files at /static
    # web console backend: browser sessions, profiles, resumable uploads, live status (docs/console-api.md)
    app.include_router(sessions.router)
    for router in (profiles.router, uploads.router, live.router, stills.router, downloads.router):
        app.include_router(router, prefix="/v1")
    # Cache hits of GET /v1/assets/{id} are answered in front of the whole stack (vidpipe.api.fastpath);
    # everything else, misses included, goes through it. Middleware must be added above this line.
    # Outermost: every body is capped before anything reads it (vidpipe.api.limits).
    app.middleware_stack = BodyLimit(FastAssetReads(app.build_middleware_stack(), runtime),
                                     partial(limits.body_limit, runtime.settings))
    return app
