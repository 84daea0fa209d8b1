"""Caching for fast reads: response bodies (read-through, versioned, stampede-safe), verified API keys,
view counts for popularity and per-key rate limits, over Redis when `redis_url` is set, else in-process.
See docs/cache.md."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from vidpipe.cache.base import Cache
from vidpipe.cache.keys import KeyCache
from vidpipe.cache.memory import MemoryCache
from vidpipe.cache.popularity import ViewCounter
from vidpipe.cache.ratelimit import RateLimiter
from vidpipe.cache.reads import ReadThrough
from vidpipe.settings import Settings

__all__ = ["Cache", "Caching", "MemoryCache"]


def cache_from_settings(settings: Settings) -> Cache:
    if settings.redis_url is None:
        return MemoryCache(settings.cache.memory_max_entries)
    from vidpipe.cache.redis import RedisCache
    from vidpipe.cloud.secrets import redis_url_source

    return RedisCache(settings.redis_url.get_secret_value(), prefix=settings.cache.key_prefix,
                      timeout=settings.cache.redis_timeout_seconds, retry_seconds=settings.cache.redis_retry_seconds,
                      url_source=redis_url_source(settings))


@dataclass
class Caching:
    """Everything a process caches, built once from settings (Runtime.cache)."""

    settings: Settings
    cache: Cache
    reads: ReadThrough
    keys: KeyCache
    limiter: RateLimiter
    views: ViewCounter

    @classmethod
    def from_settings(cls, settings: Settings, cache: Cache | None = None) -> Caching:
        cache = cache or cache_from_settings(settings)
        return cls(settings, cache, ReadThrough(cache, fill_wait=settings.cache.fill_wait_seconds),
                   KeyCache(settings.cache.key_ttl_seconds), RateLimiter(cache, settings.cache.rate_limit_per_minute),
                   ViewCounter(cache))

    def invalidate_assets(self, asset_ids: Sequence[uuid.UUID | str]) -> None:
        self.reads.invalidate_assets(asset_ids)

    def close(self) -> None:
        self.cache.close()
