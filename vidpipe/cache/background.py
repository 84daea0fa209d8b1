"""What an API process runs beside its requests: the invalidation listener, view-count flushes and
persistence, and keeping the hottest assets warm in the cache."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread

from vidpipe.cache.invalidation import Listener
from vidpipe.cache.reads import Entry, asset_key

log = logging.getLogger(__name__)


def warm(rt: Any, load: Callable[[uuid.UUID], Entry | None]) -> int:
    """Fill the cache for the most viewed assets of the last hour that are not in it; returns how many."""
    count = rt.settings.cache.popular_warm_count
    if count <= 0:
        return 0
    with rt.db.session() as session:
        top = rt.cache.views.top(session, "1h", count)
    filled_before = rt.cache.reads.fills
    for asset_id, _ in top:
        key, version = asset_key(asset_id, rt.settings.public_base_url)
        with contextlib.suppress(Exception):  # deleted meanwhile, or the database is busy: next round
            rt.cache.reads.get(key, version, rt.settings.cache.asset_ttl_seconds, lambda a=asset_id: load(a))
    return rt.cache.reads.fills - filled_before


def persist_views(rt: Any) -> int:
    with rt.db.session() as session:
        return rt.cache.views.persist(session)


async def _every(seconds: float, fn: Callable[[], Any], name: str, *, on_loop: bool = False) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await (fn() if on_loop else anyio.to_thread.run_sync(fn))
        except Exception as exc:  # a background chore never takes the API down; it runs again next time
            log.warning("cache.background_failed", extra={"task": name, "error": f"{type(exc).__name__}: {exc}"})


@contextlib.asynccontextmanager
async def running(rt: Any, load: Callable[[uuid.UUID], Entry | None], *, listen: bool = True) -> AsyncIterator[None]:
    """Run the background work for the life of the block (the API's lifespan)."""
    caching, st = rt.cache, rt.settings
    listener = None
    if listen:
        listener = Listener(lambda: rt.db.url, caching.invalidate_assets, caching.cache.retire_all)
        listener.start()
    tasks = [
        asyncio.create_task(_every(st.cache.popular_flush_seconds, caching.views.aflush, "views.flush", on_loop=True)),
        asyncio.create_task(_every(st.cache.popular_persist_seconds, lambda: persist_views(rt), "views.persist")),
        asyncio.create_task(_every(st.cache.popular_warm_seconds, lambda: warm(rt, load), "warm")),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await anyio.to_thread.run_sync(lambda: persist_views(rt))
        if listener is not None:
            await anyio.to_thread.run_sync(listener.stop)
