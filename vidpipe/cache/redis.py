"""The Redis cache (ElastiCache in the cloud: `rediss://` + AUTH from the URL). Short socket timeouts and a
circuit breaker: a slow or missing Redis costs at most one timeout per retry interval, never a failed request.

Invalidations that could not be delivered while Redis was unreachable are delivered when it answers again,
before this process reads anything from it (more than MAX_LOST of them: the global epoch that every cached
value carries is bumped instead, see vidpipe.cache.reads).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from vidpipe.cache.base import Cache
from vidpipe.cache.breaker import Breaker
from vidpipe.cache.resp import RespPool

log = logging.getLogger(__name__)

EPOCH_KEY = "epoch"
VERSION_TTL = 7 * 24 * 3600  # versions outlive every value stamped with them
MAX_LOST = 10_000
_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError, EOFError)


def _is_auth_failure(exc: BaseException) -> bool:
    """WRONGPASS / NOAUTH from redis-py (AuthenticationError) or from the async RESP pool (a RespError reply)."""
    text = str(exc).upper()
    return isinstance(exc, redis.AuthenticationError) or "WRONGPASS" in text or "NOAUTH" in text


class RedisCache(Cache):
    name = "redis"
    shared = True

    def __init__(self, url: str, *, prefix: str = "vp:", timeout: float = 0.05, retry_seconds: float = 5.0,
                 max_connections: int = 64, url_source: Callable[[], str] | None = None) -> None:
        self.url, self.prefix = url, prefix
        # Re-reads the URL (the AUTH token from Secrets Manager) when Redis refuses the current one: a rotated
        # token then needs no restart (ElastiCache accepts old and new while clients move over).
        self._url_source = url_source
        # Blocking pools: a burst beyond max_connections waits briefly for a connection instead of failing.
        self._options: dict[str, Any] = dict(
            socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
            max_connections=max_connections, timeout=max(1.0, timeout * 10))
        self.client = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(url, **self._options))
        self._apool: RespPool | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self.breaker = Breaker("redis", retry_seconds)
        self._lost: set[str] = set()  # version keys whose bump could not be delivered
        self._lost_lock = threading.Lock()

    def _k(self, key: str) -> str:
        return self.prefix + key

    def refresh_credentials(self, exc: BaseException) -> bool:
        """After an authentication failure: reconnect with a freshly read URL; False when there is none newer."""
        if self._url_source is None or not _is_auth_failure(exc):
            return False
        try:
            fresh = self._url_source()
        except Exception as error:  # Secrets Manager unreachable: the breaker retries later
            log.warning("cache.credentials_refresh_failed", extra={"error": type(error).__name__})
            return False
        if fresh == self.url:
            return False
        old, self.url = self.client, fresh
        self.client = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(fresh, **self._options))
        self._apool = None  # the async pool reconnects with the new URL on next use
        old.close()
        log.info("cache.credentials_refreshed")
        return True

    def _run(self, fn, default):
        if not self.breaker.allow():
            return default
        try:
            result = fn()
        except _ERRORS as exc:
            if not self.refresh_credentials(exc):
                self.breaker.failure(exc)
                return default
            try:  # once more with the new token
                result = fn()
            except _ERRORS as again:
                self.breaker.failure(again)
                return default
        self.breaker.success()
        if self._lost:
            self._replay_lost()
        return result

    def _replay_lost(self) -> bool:
        """Deliver the invalidations that failed earlier; True when none are pending any more."""
        with self._lost_lock:
            lost, self._lost = self._lost, set()
        if not lost:
            return True
        try:
            pipe = self.client.pipeline(transaction=False)
            if len(lost) > MAX_LOST:  # too many to replay one by one: retire everything
                pipe.incr(self._k(EPOCH_KEY))
            else:
                for key in lost:
                    pipe.incr(self._k(key))
                    pipe.expire(self._k(key), VERSION_TTL)
            pipe.execute()
        except _ERRORS as exc:
            with self._lost_lock:
                self._lost |= lost
            self.breaker.failure(exc)
            return False
        log.info("cache.invalidations_replayed", extra={"count": len(lost)})
        return True

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return self._run(lambda: self.client.mget([self._k(k) for k in keys]), [None] * len(keys))

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self._run(lambda: self.client.set(self._k(key), value, px=int(ttl * 1000)), None)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(self._run(lambda: self.client.set(self._k(key), value, px=int(ttl * 1000), nx=True), False))

    def delete(self, *keys: str) -> None:
        self._run(lambda: self.client.delete(*[self._k(k) for k in keys]), None)

    def incr(self, key: str, ttl: float, amount: int = 1) -> int | None:
        def op() -> int:
            pipe = self.client.pipeline(transaction=False)
            pipe.incrby(self._k(key), amount)
            pipe.expire(self._k(key), max(1, int(ttl)), nx=True)
            return int(pipe.execute()[0])

        return self._run(op, None)

    def invalidate(self, version_keys: Sequence[str], drop: Sequence[str], ttl: float) -> None:
        """Bump version counters; remembered when Redis is unreachable, so the epoch moves once it is back."""
        def op() -> bool:
            pipe = self.client.pipeline(transaction=False)
            for key in version_keys:
                pipe.incr(self._k(key))
                pipe.expire(self._k(key), max(1, int(ttl)))
            if drop:
                pipe.delete(*[self._k(k) for k in drop])
            pipe.execute()
            return True

        if not self._run(op, False):
            with self._lost_lock:  # delivered when Redis answers again, before this process reads from it
                self._lost.update(version_keys)

    def zincr_many(self, key: str, amounts: Mapping[str, float], ttl: float) -> bool:
        def op() -> bool:
            pipe = self.client.pipeline(transaction=False)
            for member, amount in amounts.items():
                pipe.zincrby(self._k(key), amount, member)
            pipe.expire(self._k(key), max(1, int(ttl)))
            pipe.execute()
            return True

        return bool(self._run(op, False))

    def ztop(self, keys: Sequence[str], count: int) -> list[tuple[str, float]] | None:
        def op() -> list[tuple[str, float]]:
            # redis-py types zunion's reply as any of its shapes; with withscores=True it is (member, score) pairs
            scored = cast(list[tuple[bytes | str, float]], self.client.zunion([self._k(k) for k in keys],
                                                                             withscores=True))
            rows = sorted(scored, key=lambda r: (-r[1], r[0]))[:count]
            return [(m.decode() if isinstance(m, bytes) else m, float(s)) for m, s in rows]

        return self._run(op, None)

    def _async_pool(self) -> RespPool:
        loop = asyncio.get_running_loop()
        if self._apool is None or self._aloop is not loop:  # connections belong to the loop that made them
            self._apool = RespPool(self.url, timeout=self._options["socket_timeout"])
            self._aloop = loop
        return self._apool

    async def azincr_many(self, key: str, amounts: Mapping[str, float], ttl: float) -> bool:
        if not self.breaker.allow():
            return False
        commands: list[list[bytes | str | int]] = [["ZINCRBY", self._k(key), int(n), m] for m, n in amounts.items()]
        commands.append(["EXPIRE", self._k(key), max(1, int(ttl))])
        try:
            await self._async_pool().execute(commands)
        except _ERRORS as exc:
            self.breaker.failure(exc)
            self.refresh_credentials(exc)
            return False
        self.breaker.success()
        return True

    async def hot_read(self, keys: Sequence[str], counter: str | None, counter_ttl: float
                       ) -> tuple[list[bytes | None], int | None]:
        if not self.breaker.allow() or (self._lost and not self._replay_lost()):
            return [None] * len(keys), None
        commands: list[list[bytes | str | int]] = [["MGET", *[self._k(k) for k in keys]]]
        if counter:
            commands += [["INCR", self._k(counter)], ["EXPIRE", self._k(counter), max(1, int(counter_ttl)), "NX"]]
        try:
            result = await self._async_pool().execute(commands)
        except _ERRORS as exc:
            self.breaker.failure(exc)
            self.refresh_credentials(exc)
            return [None] * len(keys), None
        self.breaker.success()
        values, count = result[0], (result[1] if counter else None)
        assert isinstance(values, list)  # MGET's reply: an array
        assert count is None or isinstance(count, int)  # INCR's: an integer (error replies raised in execute)
        return values, count

    def retire_all(self) -> None:
        self._run(lambda: self.client.incr(self._k(EPOCH_KEY)), None)

    @property
    def available(self) -> bool:
        return not self.breaker.is_open

    def close(self) -> None:
        self.client.close()
        if self._apool is not None:
            self._apool.close()
