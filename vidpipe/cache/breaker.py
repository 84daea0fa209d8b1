"""A circuit breaker: after a failure the guarded backend is skipped for `retry_seconds`, then tried again.

Failures are logged once per open period (not per request), and the recovery once.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class Breaker:
    def __init__(self, name: str, retry_seconds: float, threshold: int = 3, outage_seconds: float = 1.0) -> None:
        self.name = name
        self.retry_seconds = retry_seconds
        # It opens after `threshold` consecutive failures with no success for `outage_seconds`: a burst of slow
        # replies on a busy machine (those requests read the database) must not send *all* reads to the
        # database for retry_seconds; a Redis that is really gone is skipped after a second.
        self.threshold = threshold
        self.outage_seconds = outage_seconds
        self._consecutive = 0
        self._last_success = float("-inf")
        self._open_until = 0.0
        self._open = False
        self._lock = threading.Lock()
        self.failures = 0  # since start; for tests and metrics
        self.skipped = 0

    def allow(self) -> bool:
        """False while open; once the retry time has passed, callers try again (the first success closes it)."""
        if not self._open or time.monotonic() >= self._open_until:
            return True
        self.skipped += 1
        return False

    def failure(self, exc: BaseException) -> None:
        with self._lock:
            self.failures += 1
            self._consecutive += 1
            if not self._open and (self._consecutive < self.threshold
                                   or time.monotonic() - self._last_success < self.outage_seconds):
                return
            was_open = self._open
            self._open, self._open_until = True, time.monotonic() + self.retry_seconds
        if not was_open:
            log.warning("cache.unavailable", extra={"backend": self.name, "error": f"{type(exc).__name__}: {exc}",
                                                    "retry_in_seconds": self.retry_seconds})

    def success(self) -> bool:
        """Record a success; True when this closed an open breaker (the backend is back)."""
        self._consecutive = 0
        self._last_success = time.monotonic()
        if not self._open:
            return False
        with self._lock:
            if not self._open:
                return False
            self._open = False
        log.info("cache.available", extra={"backend": self.name})
        return True

    @property
    def tripped(self) -> bool:
        """Open, or waiting for the first success after the retry time."""
        return self._open

    @property
    def is_open(self) -> bool:
        return self._open and time.monotonic() < self._open_until
