"""The library grid's query: filters, four sort orders with keyset cursors, machine tags for the page.

The same read model as `GET /v1/assets` (vidpipe.api.views), plus what that endpoint does not filter on
(user and machine tags) and other sort orders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, any_, exists, func, or_, select, tuple_
from sqlalchemy.orm import Session

from vidpipe.api import views
from vidpipe.api.schemas import AssetPublic
from vidpipe.cursors import decode_cursor, encode_cursor
from vidpipe.db.models import Asset, MachineTag, MediaInfo
from vidpipe.errors import InputError
from vidpipe.playback.signing import PlaybackSigner
from vidpipe.states import AssetStatus

PAGE_SIZE = 24
STATUSES = tuple(AssetStatus)
MACHINE_TAG_MIN_SCORE = 0.25
# name -> (label, descending?)
SORTS: dict[str, tuple[str, bool]] = {
    "newest": ("Newest first", True),
    "oldest": ("Oldest first", False),
    "title": ("Title A–Z", False),
    "longest": ("Longest first", True),
}


@dataclass
class LibraryQuery:
    status: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    min_height: int | None = None
    tag: str | None = None
    q: str | None = None
    sort: str = "newest"
    cursor: str | None = None


@dataclass
class LibraryPage:
    items: list[AssetPublic]
    machine_tags: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    next_cursor: str | None = None


class BadCursor(ValueError):
    pass


def _sort_expr(sort: str) -> Any:
    if sort == "title":
        return func.lower(Asset.title)
    if sort == "longest":
        return func.coalesce(MediaInfo.duration, -1.0)
    return Asset.created_at


def _encode(value: Any, asset_id: uuid.UUID) -> str:
    raw = value.isoformat() if isinstance(value, datetime) else value
    return encode_cursor([raw, str(asset_id)])


def _decode(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    try:
        raw, asset_id = decode_cursor(cursor)
        if not isinstance(asset_id, str):  # uuid.UUID(<a number>) raises AttributeError, which would be a 500
            raise TypeError(f"the asset id is {type(asset_id).__name__}")
        value = raw
        if sort in ("newest", "oldest"):
            if not isinstance(raw, str):
                raise TypeError(f"the time is {type(raw).__name__}")
            value = datetime.fromisoformat(raw)
        elif sort == "longest":
            if not isinstance(raw, int | float | str):
                raise TypeError(f"the duration is {type(raw).__name__}")
            value = float(raw)
        return value, uuid.UUID(asset_id)
    except (ValueError, TypeError, InputError) as exc:
        raise BadCursor("this page link is out of date; start from the first page") from exc


def load_page(session: Session, query: LibraryQuery, base_url: str | None, signer: PlaybackSigner | None = None, *,
              limit: int = PAGE_SIZE) -> LibraryPage:
    sort = query.sort if query.sort in SORTS else "newest"
    descending = SORTS[sort][1]
    key = _sort_expr(sort)
    stmt: Select[Any] = select(Asset.id, key.label("k")).outerjoin(MediaInfo, MediaInfo.asset_id == Asset.id)
    if query.status in STATUSES:
        stmt = stmt.where(Asset.status == query.status)
    if query.q:
        escaped = query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Asset.title.ilike(f"%{escaped}%", escape="\\"))
    if query.min_duration is not None:
        stmt = stmt.where(MediaInfo.duration >= query.min_duration)
    if query.max_duration is not None:
        stmt = stmt.where(MediaInfo.duration <= query.max_duration)
    if query.min_height is not None:
        stmt = stmt.where(MediaInfo.height >= query.min_height)
    if query.tag:
        tag = query.tag.strip().lower()
        machine = exists().where(MachineTag.asset_id == Asset.id, MachineTag.label == tag,
                                 MachineTag.score >= MACHINE_TAG_MIN_SCORE)
        stmt = stmt.where(or_(any_(Asset.tags) == tag, machine))  # ARRAY.any() is deprecated since SQLAlchemy 2.1
    if query.cursor:
        value, after = _decode(query.cursor, sort)
        row, bound = tuple_(key, Asset.id), tuple_(value, after)
        stmt = stmt.where(row < bound if descending else row > bound)
    order = (key.desc(), Asset.id.desc()) if descending else (key.asc(), Asset.id.asc())
    rows = session.execute(stmt.order_by(*order).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    items = views.load_assets(session, [r.id for r in page], base_url, signer)
    return LibraryPage(items=items, machine_tags=machine_tags(session, [a.id for a in items]),
                       next_cursor=_encode(page[-1].k, page[-1].id) if more else None)


def machine_tags(session: Session, ids: list[uuid.UUID], per_asset: int = 4) -> dict[uuid.UUID, list[str]]:
    """The best model labels of each asset (score >= MACHINE_TAG_MIN_SCORE), best first."""
    if not ids:
        return {}
    found: dict[uuid.UUID, list[str]] = {}
    rows = session.execute(select(MachineTag.asset_id, MachineTag.label)
                           .where(MachineTag.asset_id.in_(ids), MachineTag.score >= MACHINE_TAG_MIN_SCORE)
                           .order_by(MachineTag.asset_id, MachineTag.score.desc()))
    for asset_id, label in rows:
        labels = found.setdefault(asset_id, [])
        if len(labels) < per_asset and label not in labels:
            labels.append(label)
    return found
