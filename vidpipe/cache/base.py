"""The cache interface: a few key/value, counter and sorted-set operations that Redis and a dict both do.

Every operation may silently do nothing (a miss, a lost write) when the backend is unavailable: callers
treat the cache as an optimisation and the database as the truth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence


class Cache(ABC):
    name: str = "cache"
    shared: bool = False  # True when other processes see the same entries (Redis)

    @abstractmethod
    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """Values of `keys` (None: missing, expired or the backend is unavailable)."""

    @abstractmethod
    def set(self, key: str, value: bytes, ttl: float) -> None: ...

    @abstractmethod
    def add(self, key: str, value: bytes, ttl: float) -> bool:
        """Set only if absent (a lock); False when present or unavailable."""

    @abstractmethod
    def delete(self, *keys: str) -> None: ...

    @abstractmethod
    def incr(self, key: str, ttl: float, amount: int = 1) -> int | None:
        """Add to a counter and (re)arm its expiry; None when unavailable."""

    @abstractmethod
    def zincr_many(self, key: str, amounts: Mapping[str, float], ttl: float) -> bool:
        """Add to members' scores of a sorted set; False when unavailable."""

    @abstractmethod
    def ztop(self, keys: Sequence[str], count: int) -> list[tuple[str, float]] | None:
        """The `count` highest members over the union (summed) of sorted sets; None when unavailable."""

    def invalidate(self, version_keys: Sequence[str], drop: Sequence[str], ttl: float) -> None:
        """Bump version counters (values stamped with older versions stop matching) and drop values."""
        for key in version_keys:
            self.incr(key, ttl)
        self.delete(*drop)

    def retire_all(self) -> None:  # noqa: B027 - a no-op where nothing can be missed
        """Forget everything cached (after invalidations may have been missed)."""

    async def azincr_many(self, key: str, amounts: Mapping[str, float], ttl: float) -> bool:
        """`zincr_many` for the event loop."""
        return self.zincr_many(key, amounts, ttl)

    async def hot_read(self, keys: Sequence[str], counter: str | None, counter_ttl: float
                       ) -> tuple[list[bytes | None], int | None]:
        """The request path in one round trip: `get_many(keys)` and, if given, `incr(counter)`."""
        return self.get_many(keys), (self.incr(counter, counter_ttl) if counter else None)

    @property
    def available(self) -> bool:
        return True

    def close(self) -> None:  # noqa: B027 - optional for implementations
        pass
