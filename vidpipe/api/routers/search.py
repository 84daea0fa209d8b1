"""/v1/search, /v1/assets/{id}/similar, /v1/recommendations, /v1/assets/{id}/duplicates."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from vidpipe.api import views
from vidpipe.api.deps import CallerDep, RuntimeDep, SessionDep
from vidpipe.api.pagination import CursorParam, LimitParam
from vidpipe.api.schemas import ErrorBody
from vidpipe.cache.http import entry_response
from vidpipe.cache.reads import LISTS_VERSION, Entry, found, make_entry
from vidpipe.runtime import Runtime
from vidpipe.search import (
    MODALITIES,
    DuplicateHit,
    Hit,
    SearchFilters,
    SimilarAsset,
    duplicates,
    encode_query,
    recommend,
    search,
    similar,
)
from vidpipe.search.floors import FLOORS
from vidpipe.search.index import require_vectors
from vidpipe.search.query import query_embedders

router = APIRouter(tags=["search"], responses={401: {"model": ErrorBody}, 501: {"model": ErrorBody},
                                               503: {"model": ErrorBody}})
Modality = Literal["visual", "audio", "speech", "all"]


class SearchHitPublic(BaseModel):
    asset_id: uuid.UUID
    start: float
    end: float
    score: float
    modality: str
    kind: str
    text: str | None = None
    thumbnail_url: str | None = None


class SearchGroupPublic(BaseModel):
    asset_id: uuid.UUID
    score: float
    hits: list[SearchHitPublic]


class SearchResults(BaseModel):
    items: list[SearchHitPublic]
    groups: list[SearchGroupPublic] | None = None
    next_cursor: str | None
    unavailable: dict[str, str] = {}  # modality -> why it was not searched


class SimilarPublic(BaseModel):
    asset_id: uuid.UUID
    score: float
    reason: str
    scores: dict[str, float]


class SimilarList(BaseModel):
    items: list[SimilarPublic]
    # similar only: each modality compared ("used") or why not (no fingerprints, no pgvector, ...)
    modalities: dict[str, str] | None = None


class DuplicatePublic(BaseModel):
    asset_id: uuid.UUID
    kind: str
    score: float
    reason: str
    matched_frames: int
    compared_frames: int
    duration: float | None
    offset: float = 0.0  # seconds: the other video's time = speed x this video's time + offset
    speed: float = 1.0
    mirrored: bool = False


class DuplicateList(BaseModel):
    exact: list[DuplicatePublic]
    near: list[DuplicatePublic]


def _hit(h: Hit, base: str | None) -> SearchHitPublic:
    thumb = views.media_url(base, h.thumbnail_key) if h.thumbnail_key else None
    return SearchHitPublic(asset_id=h.asset_id, start=h.start, end=h.end, score=h.score, modality=h.modality,
                           kind=h.kind, text=h.text, thumbnail_url=thumb)


def _similar(items: list[SimilarAsset]) -> SimilarList:
    return SimilarList(items=[SimilarPublic(asset_id=s.asset_id, score=s.score, reason=s.reason, scores=s.scores)
                              for s in items], modalities=getattr(items, "modalities", None))


def _dup(d: DuplicateHit) -> DuplicatePublic:
    return DuplicatePublic(**d.__dict__)


class ModalityStatus(BaseModel):
    available: bool
    reason: str | None = None  # for the operator: why it cannot be searched (configuration, missing model)
    floor: float  # hits scoring below this are not returned


class SearchStatus(BaseModel):
    modalities: dict[str, ModalityStatus]


@router.get("/search/status", response_model=SearchStatus)
def search_status(rt: RuntimeDep, caller: CallerDep) -> SearchStatus:
    """Which modalities this server can search, and why not (shown on the console's status page, not per query)."""
    embedders, status = query_embedders(rt.settings, list(MODALITIES))
    _, unavailable = encode_query_status(embedders, status)
    return SearchStatus(modalities={m: ModalityStatus(available=m not in unavailable, reason=unavailable.get(m),
                                                      floor=FLOORS[MODALITIES[m][1][0]]) for m in MODALITIES})


def encode_query_status(embedders: dict, status: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(searchable modalities, modality -> why not), without encoding anything."""
    why: dict[str, str] = {}
    for modality, (name, _) in MODALITIES.items():
        if name not in embedders:
            why[modality] = status.get(name) or f"embedder {name!r} is not configured (VIDPIPE_EMBEDDERS)"
    return [m for m in MODALITIES if m not in why], why


@router.get("/search", response_model=SearchResults)
def search_media(
    request: Request, rt: RuntimeDep, session: SessionDep, caller: CallerDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="what to find")],
    modality: Modality = "all",
    min_duration: Annotated[float | None, Query(ge=0)] = None,
    max_duration: Annotated[float | None, Query(ge=0)] = None,
    min_height: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    tag: Annotated[list[str], Query(description="user tag (repeatable, all required)")] = [],  # noqa: B006
    machine_tag: Annotated[list[str], Query(description="model label (repeatable, all required)")] = [],  # noqa: B006
    machine_tag_min_score: Annotated[float, Query(ge=0, le=1)] = 0.25,
    since: Annotated[datetime | None, Query(description="created at or after")] = None,
    group_by_asset: bool = False,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Response:
    """Clip-level hits (asset, time range, score, thumbnail), best first; `all` merges the modalities by score.
    Results are cached like asset lists (a few seconds, dropped on any asset change); ETag / If-None-Match."""
    require_vectors(session)  # before loading any model: a server without pgvector answers at once
    params = f"{urlencode(sorted(request.query_params.multi_items()))}@{rt.settings.public_base_url or ''}".encode()
    key = f"search:{hashlib.blake2b(params, digest_size=16).hexdigest()}"

    def load() -> Entry:
        results = _search(rt, session, q, modality, min_duration, max_duration, min_height, tag, machine_tag,
                          machine_tag_min_score, since, group_by_asset, limit, cursor)
        return make_entry(results.model_dump_json().encode())

    entry = rt.cache.reads.get(key, LISTS_VERSION, rt.settings.cache.list_ttl_seconds, load)
    return entry_response(request, found(entry, "the search result"))


def _search(rt: Runtime, session, q: str, modality: str, min_duration: float | None, max_duration: float | None,
            min_height: int | None, tag: list[str], machine_tag: list[str], machine_tag_min_score: float,
            since: datetime | None, group_by_asset: bool, limit: int, cursor: str | None) -> SearchResults:
    modalities = list(MODALITIES) if modality == "all" else [modality]
    embedders, status = query_embedders(rt.settings, modalities)
    vectors, unavailable = encode_query(q, embedders, modalities, status)
    filters = SearchFilters(min_duration=min_duration, max_duration=max_duration, min_height=min_height, tags=tag,
                            machine_tags=machine_tag, machine_tag_min_score=machine_tag_min_score, since=since)
    page = search(session, vectors, filters=filters, limit=limit, cursor=cursor, group_by_asset=group_by_asset,
                  floors=FLOORS)
    base = rt.settings.public_base_url
    groups = None
    if page.groups is not None:
        groups = [SearchGroupPublic(asset_id=g.asset_id, score=g.score, hits=[_hit(h, base) for h in g.hits])
                  for g in page.groups]
    return SearchResults(items=[_hit(h, base) for h in page.hits], groups=groups, next_cursor=page.next_cursor,
                         unavailable=unavailable)


@router.get("/assets/{asset_id}/similar", response_model=SimilarList, responses={404: {"model": ErrorBody}})
def similar_assets(session: SessionDep, caller: CallerDep, asset_id: uuid.UUID,
                   limit: LimitParam = 10) -> SimilarList:
    """Related videos by every modality the asset has (pictures, sound, visual, audio, speech, metadata), above
    per-modality score floors (an empty list rather than noise); `modalities` says which were compared."""
    return _similar(similar(session, asset_id, limit=limit))


@router.get("/recommendations", response_model=SimilarList, responses={404: {"model": ErrorBody}})
def recommendations(session: SessionDep, caller: CallerDep,
                    from_: Annotated[list[uuid.UUID], Query(alias="from", min_length=1, max_length=50,
                                                            description="seed asset ids (repeatable)")],
                    limit: LimitParam = 10) -> SimilarList:
    """What to watch next from the seeds: near their centroid, seeds excluded, diversified (MMR)."""
    return _similar(recommend(session, from_, limit=limit))


@router.get("/assets/{asset_id}/duplicates", response_model=DuplicateList, responses={404: {"model": ErrorBody}})
def asset_duplicates(session: SessionDep, caller: CallerDep, asset_id: uuid.UUID,
                     limit: LimitParam = 20) -> DuplicateList:
    """Exact duplicates (the same pictures and sound) apart from near ones (re-encodes, crops, letterbox, logos,
    trims, mirrored, speed changes), each with the offset/speed/mirroring that aligns them."""
    found = duplicates(session, asset_id, limit=limit)
    return DuplicateList(exact=[_dup(d) for d in found.exact], near=[_dup(d) for d in found.near])
