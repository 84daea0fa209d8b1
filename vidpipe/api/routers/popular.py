"""/v1/popular: the most viewed assets of a window (views of GET /v1/assets/{id}, see docs/cache.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from vidpipe.api import views
from vidpipe.api.deps import CallerDep, RuntimeDep, SessionDep
from vidpipe.api.schemas import AssetPublic, ErrorBody

router = APIRouter(prefix="/popular", tags=["popular"], responses={401: {"model": ErrorBody}})


class PopularItem(BaseModel):
    views: int
    asset: AssetPublic


class PopularList(BaseModel):
    window: str
    items: list[PopularItem]


@router.get("", response_model=PopularList)
def popular(session: SessionDep, rt: RuntimeDep, caller: CallerDep,
            window: Annotated[Literal["1h", "24h", "7d"], Query()] = "24h",
            limit: Annotated[int, Query(ge=1, le=100)] = 20) -> PopularList:
    """Most viewed first. Counts reach this list within `popular_flush_seconds` (with Redis) or
    `popular_persist_seconds` (from the database, without Redis); `1h` is the current and the previous hour."""
    top = rt.cache.views.top(session, window, limit)
    found = {a.id: a for a in views.load_assets(session, [a for a, _ in top], rt.settings.public_base_url, rt.playback)}
    return PopularList(window=window, items=[PopularItem(views=n, asset=found[a]) for a, n in top if a in found])
