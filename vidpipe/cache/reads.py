"""Read-through caching of response bodies with versioned keys and stampede protection.

A cached value is stamped with the versions it was read under: `<epoch>:<version>\\n<etag>\\n<body>`. A write
bumps the version (`v:asset:<id>`, and `v:lists` for every list), so a value filled from an older read can never
be served after the bump, even when its fill finishes after the invalidation. The epoch retires everything
at once (vidpipe.cache.redis, and the invalidation listener after a reconnect).

Concurrent misses of one key: one fill per process (a shared future), and with Redis one fill across
processes (`SET NX` lock with a short TTL; the others poll briefly for the value, then read the database
themselves rather than wait long).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import anyio.to_thread

from vidpipe.cache.base import Cache
from vidpipe.cache.redis import EPOCH_KEY, VERSION_TTL
from vidpipe.errors import NotFoundError

LISTS_VERSION = "v:lists"
POLL_SECONDS = 0.005


@dataclass(frozen=True)
class Entry:
    etag: str
    body: bytes


def make_entry(body: bytes) -> Entry:
    return Entry(f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"', body)


def asset_key(asset_id: uuid.UUID | str, base_url: str | None = None) -> tuple[str, str]:
    """(value key, version key); the body names media URLs, so the base URL is part of the value key."""
    return f"asset:{asset_id}@{base_url or ''}", f"v:asset:{asset_id}"


def found(entry: Entry | None, what: str) -> Entry:
    """The entry of a read whose loader raises rather than return None. Readers of one key share a fill, so a
    None here is another loader's of the same key that found nothing: `what` went away meanwhile."""
    if entry is None:
        raise NotFoundError(f"{what} was not found")
    return entry


def _stamp(epoch: bytes | None, version: bytes | None) -> bytes:
    return (epoch or b"0") + b":" + (version or b"0")


def parse(values: Sequence[bytes | None]) -> Entry | None:
    value, version, epoch = values
    if value is None:
        return None
    stamp, _, rest = value.partition(b"\n")
    if stamp != _stamp(epoch, version):
        return None
    etag, _, body = rest.partition(b"\n")
    return Entry(etag.decode(), body)


class ReadThrough:
    def __init__(self, cache: Cache, *, fill_wait: float = 1.0) -> None:
        self.cache = cache
        self.fill_wait = fill_wait
        self._flights: dict[str, Future[Entry | None]] = {}
        self._lock = threading.Lock()
        self.fills = 0  # database reads made by this process to fill the cache

    def get(self, key: str, version_key: str, ttl: float, loader: Callable[[], Entry | None]) -> Entry | None:
        """The cached entry of `key`, or the loader's (cached for `ttl`). None: not found (never cached)."""
        hit, stamp = self._look(key, version_key)
        return hit or self._fill(key, version_key, ttl, stamp, loader)

    async def aget(self, key: str, version_key: str, ttl: float, loader: Callable[[], Entry | None], *,
                   counter: str | None = None, counter_ttl: float = 61,
                   check: Callable[[int | None], None] | None = None) -> tuple[Entry | None, int | None]:
        """`get` for the event loop: a hit costs one cache round trip (with `counter` incremented in it, and
        `check(count)` called before anything else happens, e.g. a rate limit); a miss fills on a thread."""
        values, count = await self.cache.hot_read([key, version_key, EPOCH_KEY], counter, counter_ttl)
        if check is not None:
            check(count)
        hit = parse(values)
        if hit is not None:
            return hit, count
        stamp = _stamp(values[2], values[1])
        return await anyio.to_thread.run_sync(self._fill, key, version_key, ttl, stamp, loader), count

    def _fill(self, key: str, version_key: str, ttl: float, stamp: bytes,
              loader: Callable[[], Entry | None]) -> Entry | None:
        # Only readers that saw the same versions share a fill: one that saw a newer version must not get a
        # value read before the write that bumped it.
        flight_key = f"{key}@{stamp.decode()}"
        with self._lock:
            flight = self._flights.get(flight_key)
            leader = flight is None
            if flight is None:
                flight = self._flights[flight_key] = Future()
        if not leader:
            return flight.result(timeout=self.fill_wait + 30)
        try:
            # A miss seen before another fill finished: that fill's value may be there now.
            hit, stamp = self._look(key, version_key)
            entry = hit or self._fill_shared(key, version_key, ttl, stamp, loader)
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        else:
            flight.set_result(entry)
            return entry
        finally:
            with self._lock:
                self._flights.pop(flight_key, None)

    def _look(self, key: str, version_key: str) -> tuple[Entry | None, bytes]:
        """The cached entry if still current, and the stamp a fill made now would carry."""
        values = self.cache.get_many([key, version_key, EPOCH_KEY])
        return parse(values), _stamp(values[2], values[1])

    def _fill_shared(self, key: str, version_key: str, ttl: float, stamp: bytes,
                     loader: Callable[[], Entry | None]) -> Entry | None:
        lock = f"fill:{key}"
        locked = False
        if self.cache.shared:
            locked = self.cache.add(lock, b"1", ttl=max(2.0, self.fill_wait * 2))
            if locked:  # another process may have filled it and let go of the lock since our miss: look again
                hit, stamp = self._look(key, version_key)
                if hit is not None:
                    self.cache.delete(lock)
                    return hit
            elif self.cache.available:  # another process fills it: wait a little for its value
                deadline = time.monotonic() + self.fill_wait
                while time.monotonic() < deadline:
                    time.sleep(POLL_SECONDS)
                    hit, stamp = self._look(key, version_key)
                    if hit is not None:
                        return hit
        try:
            self.fills += 1
            entry = loader()
            if entry is not None:
                self.cache.set(key, stamp + b"\n" + entry.etag.encode() + b"\n" + entry.body, ttl)
            return entry
        finally:
            if locked:
                self.cache.delete(lock)

    def invalidate_assets(self, asset_ids: Sequence[uuid.UUID | str]) -> None:
        """After a write that changes what these assets' responses show (and so any list)."""
        keys = [asset_key(a) for a in asset_ids]
        self.cache.invalidate([v for _, v in keys] + [LISTS_VERSION], [k for k, _ in keys], ttl=VERSION_TTL)
