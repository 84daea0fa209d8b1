"""Invalidation across processes.

Writers mark the assets they change (`vidpipe.db.assets.touch_asset`); after their transaction commits,
their own process bumps the versions in the cache (with Redis that is what every API process reads, so the
next read after the commit is fresh). Independently, a database trigger (migration 0003p) sends
`NOTIFY vidpipe_assets, '<asset id>'` in the same transaction as any change to an asset, its jobs, outputs or
media info; API processes listen and invalidate too, which covers in-process caches of other processes and
writes that do not mark (heartbeat progress, cancel requests).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from vidpipe.db.assets import TOUCHED

log = logging.getLogger(__name__)

CHANNEL = "vidpipe_assets"


def install(sessions: sessionmaker[Session], invalidate: Callable[[list[uuid.UUID]], None]) -> None:
    """Invalidate what sessions of this factory marked, after each commit (rolled back marks are dropped)."""

    def after_commit(session: Session) -> None:
        touched = session.info.pop(TOUCHED, None)
        if touched:
            invalidate(sorted(touched, key=str))

    def after_rollback(session: Session) -> None:
        session.info.pop(TOUCHED, None)

    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_soft_rollback", lambda session, previous: after_rollback(session))


def libpq_url(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """LISTEN on its own connection and thread; on (re)connect everything is invalidated, since notifications
    sent while it was away are lost."""

    def __init__(self, database_url: str | Callable[[], str], on_asset: Callable[[list[str]], None],
                 on_reconnect: Callable[[], None], *, retry_seconds: float = 1.0) -> None:
        # A callable is read per connection (the password changes when the database secret is rotated).
        self._url = database_url if callable(database_url) else (lambda: database_url)
        self.on_asset, self.on_reconnect = on_asset, on_reconnect
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cache-invalidation", daemon=True)
        self.received = 0

    @property
    def url(self) -> str:
        return libpq_url(self._url())

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        connected_before = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if connected_before:
                        self.on_reconnect()
                    connected_before = True
                    self.ready.set()
                    log.info("cache.listening", extra={"channel": CHANNEL})
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.25):  # each as it arrives: no batching delay
                            self.received += 1
                            self.on_asset([note.payload])
            except Exception as exc:  # the database went away: the cache is retired when we are back
                log.warning("cache.listen_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                self._stop.wait(self.retry_seconds)
