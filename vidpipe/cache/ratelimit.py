"""Requests per API key and minute: a fixed window counted in the cache (shared by all API processes with
Redis; per process otherwise, and while Redis is unreachable)."""

from __future__ import annotations

import time

from vidpipe.cache.base import Cache
from vidpipe.cache.memory import MemoryCache
from vidpipe.errors import VidpipeError

WINDOW = 60


class RateLimitedError(VidpipeError):
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, code="rate_limited")
        self.retry_after = retry_after


class RateLimiter:
    def __init__(self, cache: Cache, per_minute: int) -> None:
        self.cache = cache
        self.per_minute = per_minute
        self._local = cache if isinstance(cache, MemoryCache) else MemoryCache(max_entries=10_000)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def counter(self, key_name: str, now: float | None = None) -> str:
        return f"rl:{key_name}:{int((now or time.time()) // WINDOW)}"

    def check(self, key_name: str, count: int | None = None) -> None:
        """Raise RateLimitedError when over the limit. `count`: this window's count when the caller already
        incremented it (the request path does that in the same round trip as its cache read)."""
        if not self.enabled:
            return
        now = time.time()
        counter = self.counter(key_name, now)
        if count is None:
            count = self.cache.incr(counter, WINDOW + 1)
        if count is None:  # the shared counter is unavailable: count in this process
            count = self._local.incr(counter, WINDOW + 1)
        if count is not None and count > self.per_minute:
            retry_after = max(1, int(WINDOW - now % WINDOW + 0.999))
            raise RateLimitedError(f"more than {self.per_minute} requests a minute for this API key; "
                                   f"retry in {retry_after} s", retry_after)
