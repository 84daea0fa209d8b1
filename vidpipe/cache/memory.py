"""The in-process cache: a bounded TTL dict behind one lock (one process, several threads)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence

from vidpipe.cache.base import Cache


class MemoryCache(Cache):
    name = "memory"

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._data: OrderedDict[str, tuple[float, bytes | int]] = OrderedDict()
        self._zsets: dict[str, tuple[float, defaultdict[str, float]]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> bytes | int | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= now:
            del self._data[key]
            return None
        return item[1]

    def _put(self, key: str, value: bytes | int, ttl: float) -> None:
        self._data[key] = (time.monotonic() + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:  # oldest write goes first
            self._data.popitem(last=False)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        with self._lock:
            values = [self._live(k, now) for k in keys]
        return [str(v).encode() if isinstance(v, int) else v for v in values]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with self._lock:
            self._put(key, value, ttl)

    def add(self, key: str, value: bytes, ttl: float) -> bool:
        with self._lock:
            if self._live(key, time.monotonic()) is not None:
                return False
            self._put(key, value, ttl)
            return True

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def incr(self, key: str, ttl: float, amount: int = 1) -> int | None:
        with self._lock:
            current = self._live(key, time.monotonic())
            value = (int(current) if current is not None else 0) + amount
            expires = self._data[key][0] if current is not None else time.monotonic() + ttl
            self._data[key] = (expires, value)  # keeps its first expiry, like INCR + EXPIRE NX
            return value

    def retire_all(self) -> None:
        with self._lock:
            self._data.clear()

    def zincr_many(self, key: str, amounts: Mapping[str, float], ttl: float) -> bool:
        with self._lock:
            _, scores = self._zsets.get(key, (0.0, defaultdict(float)))
            for member, amount in amounts.items():
                scores[member] += amount
            self._zsets[key] = (time.monotonic() + ttl, scores)
        return True

    def ztop(self, keys: Sequence[str], count: int) -> list[tuple[str, float]] | None:
        now = time.monotonic()
        total: defaultdict[str, float] = defaultdict(float)
        with self._lock:
            for key in keys:
                expires, scores = self._zsets.get(key, (0.0, {}))
                if expires > now:
                    for member, score in scores.items():
                        total[member] += score
        return sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:count]
