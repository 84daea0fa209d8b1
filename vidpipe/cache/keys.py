"""Verified API keys, remembered per process for `cache_key_ttl_seconds` (by the SHA-256 of the secret).

Revoking a key takes effect within that time; the key's last_used_at is still touched at most once a
minute, by the verification that refills the entry.
"""

from __future__ import annotations

import hashlib
import threading
import time

MAX_KEYS = 10_000


class KeyCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def lookup(self, secret: str | None) -> str | None:
        """The key's name if it was verified less than `ttl` ago."""
        if not secret or self.ttl <= 0:
            return None
        entry = self._entries.get(self._digest(secret))
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def remember(self, secret: str, name: str) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_KEYS:
                self._entries.clear()
            self._entries[self._digest(secret)] = (time.monotonic() + self.ttl, name)

    def forget_all(self) -> None:
        with self._lock:
            self._entries.clear()
