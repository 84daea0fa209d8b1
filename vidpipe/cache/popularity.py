"""Views counted cheaply: an in-process counter per asset, flushed every few seconds to hour-bucket sorted
sets in the cache (`ZINCRBY`, shared by all API processes with Redis) and added to `asset_views` in the
database every `popular_persist_seconds` (each process adds only its own counts, so nothing is counted twice).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from vidpipe.cache.base import Cache
from vidpipe.db.models import Asset
from vidpipe.db.models.popularity import AssetView

# Hours before the current hour bucket: "1h" is the current and the previous hour (60 to 120 minutes).
WINDOWS = {"1h": 1, "24h": 24, "7d": 168}
BUCKET_TTL = (168 + 2) * 3600


def bucket_start(at: datetime | None = None) -> datetime:
    return (at or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)


def _bucket_key(start: datetime) -> str:
    return f"views:{start:%Y%m%d%H}"


class ViewCounter:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._counts: Counter[str] = Counter()
        self._unpersisted: Counter[tuple[str, datetime]] = Counter()
        self._lock = threading.Lock()

    def count(self, asset_id: uuid.UUID | str) -> None:
        with self._lock:
            self._counts[str(asset_id)] += 1

    def _take(self) -> tuple[Counter[str], datetime]:
        with self._lock:
            counts, self._counts = self._counts, Counter()
            start = bucket_start()
            for asset_id, n in counts.items():
                self._unpersisted[(asset_id, start)] += n
        return counts, start

    def flush(self) -> None:
        """Local counts to the cache's hour bucket (and the pending database batch)."""
        counts, start = self._take()
        if counts:  # when the cache is down the database still gets them, and /v1/popular reads it instead
            self.cache.zincr_many(_bucket_key(start), counts, BUCKET_TTL)

    async def aflush(self) -> None:
        """`flush` on the event loop: no thread holding the GIL while requests wait (the API's periodic flush)."""
        counts, start = self._take()
        if counts:
            await self.cache.azincr_many(_bucket_key(start), counts, BUCKET_TTL)

    def persist(self, session: Session) -> int:
        """Add the flushed counts to asset_views (commits); returns how many rows were written."""
        self.flush()
        with self._lock:
            pending, self._unpersisted = self._unpersisted, Counter()
        if not pending:
            return 0
        ids = {uuid.UUID(a) for a, _ in pending}
        existing = set(session.scalars(select(Asset.id).where(Asset.id.in_(ids))))  # deleted ones are dropped
        rows = [{"asset_id": uuid.UUID(a), "bucket_start": b, "views": n} for (a, b), n in pending.items()
                if uuid.UUID(a) in existing]
        if not rows:
            return 0
        stmt = insert(AssetView).values(rows)
        stmt = stmt.on_conflict_do_update(index_elements=["asset_id", "bucket_start"],
                                          set_={"views": AssetView.views + stmt.excluded.views})
        try:
            session.execute(stmt)
            session.commit()
        except Exception:
            session.rollback()
            with self._lock:
                self._unpersisted.update(pending)  # try again next time
            raise
        return len(rows)

    def top(self, session: Session, window: str, count: int) -> list[tuple[uuid.UUID, int]]:
        """The most viewed assets of the window: from the cache's buckets, else from the database."""
        hours = WINDOWS[window]
        now = bucket_start()
        top = self.cache.ztop([_bucket_key(now - timedelta(hours=h)) for h in range(hours + 1)], count)
        if top is not None and self.cache.shared:
            return [(uuid.UUID(m), int(s)) for m, s in top]
        self.flush()
        with self._lock:
            local = Counter({a: n for (a, b), n in self._unpersisted.items() if b >= now - timedelta(hours=hours)})
        rows = session.execute(
            select(AssetView.asset_id, func.sum(AssetView.views).label("views"))
            .where(AssetView.bucket_start >= now - timedelta(hours=hours))
            .group_by(AssetView.asset_id).order_by(func.sum(AssetView.views).desc()).limit(count + len(local))
        ).all()
        total: Counter[str] = Counter({str(r.asset_id): int(r.views) for r in rows})
        total.update(local)
        return [(uuid.UUID(a), n) for a, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:count]]
