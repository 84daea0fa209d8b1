"""Builds the FastAPI application around a Runtime made by the entry point (no globals, no environment)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
from fastapi import FastAPI

from vidpipe.api import docs, handlers, sessions
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
from vidpipe.cache.fastpath import FastAssetReads
from vidpipe.cache.http import rate_limited
from vidpipe.cache.ratelimit import RateLimitedError
from vidpipe.runtime import Runtime
from vidpipe.web import pages

DESCRIPTION = """\
Ingest media, follow its processing and fetch the outputs.

Every `/v1` route needs an API key (`vidpipe keys create <name>`), sent as `Authorization: Bearer <key>`
or `X-API-Key: <key>`. Media URLs (`/v1/media/...`) also accept `?api_key=<key>`, for players that
cannot send headers; HLS playlists fetched that way get the key appended to the URIs inside them.

Errors are always `{"error": {"code": "...", "message": "..."}}`.
"""

# Uploads hold a worker thread for as long as the client sends; they get their own budget so they
# cannot starve the thread pool that serves the short requests.
UPLOAD_CONCURRENCY = 16
# Closing request sessions gets its own threads (see deps.get_session).
CLOSE_THREADS = 8


def create_app(runtime: Runtime) -> FastAPI:
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
    docs.install(app)  # /docs and /redoc from vendored files (offline)
    app.add_exception_handler(RateLimitedError, rate_limited)  # 429 with Retry-After
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(assets.router, prefix="/v1")
    app.include_router(jobs.router, prefix="/v1")
    app.include_router(media.router, prefix="/v1")
    app.include_router(reprocess.router, prefix="/v1")
    app.include_router(search_router.router, prefix="/v1")
    app.include_router(popular.router, prefix="/v1")
    pages.install(app)  # the web console: pages at /, files at /static
    # web console backend: browser sessions, profiles, resumable uploads, live status (docs/console-api.md)
    app.include_router(sessions.router)
    for router in (profiles.router, uploads.router, live.router, stills.router, downloads.router):
        app.include_router(router, prefix="/v1")
    # Cache hits of GET /v1/assets/{id} are answered in front of the whole stack (vidpipe.cache.fastpath);
    # everything else, misses included, goes through it. Middleware must be added above this line.
    app.middleware_stack = FastAssetReads(app.build_middleware_stack(), runtime)
    return app
