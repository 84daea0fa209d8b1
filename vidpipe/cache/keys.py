"""Verified API keys, remembered per process for `cache_key_ttl_seconds` (by the SHA-256 of the secret).

Revoking a key (or changing its role) takes effect within that time; the key's last_used_at is still touched at
most once a minute, by the verification that refills the entry.
"""

from __future__ import annotations

import hashlib
import threading
import time

MAX_KEYS = 10_000


class KeyCache:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, str, str]] = {}  # digest -> (expires, name, role)
        self._lock = threading.Lock()

    @staticmethod
    def _digest(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def lookup(self, secret: str | None) -> str | None:
        """The key's name if it was verified less than `ttl` ago (any role may read)."""
        found = self.identity(secret)
        return found[0] if found else None

    def identity(self, secret: str | None) -> tuple[str, str] | None:
        """(name, role) of a key verified less than `ttl` ago."""
        if not secret or self.ttl <= 0:
            return None
        entry = self._entries.get(self._digest(secret))
        return (entry[1], entry[2]) if entry is not None and entry[0] > time.monotonic() else None

    def remember(self, secret: str, name: str, role: str) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_KEYS:
                self._entries.clear()
            self._entries[self._digest(secret)] = (time.monotonic() + self.ttl, name, role)

    def forget_all(self) -> None:
        with self._lock:
            self._entries.clear()
