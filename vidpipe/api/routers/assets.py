"""/v1/assets: create (streamed upload, server path or URL), list, read, update, delete, audit log."""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime
from functools import partial
from typing import Annotated
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import Select, delete, func, select, tuple_
from sqlalchemy.orm import Session

from vidpipe.api import upload, views
from vidpipe.api.deps import AdminCallerDep, CallerDep, IngestCallerDep, KeyNameDep, RuntimeDep, SessionDep
from vidpipe.api.fastpath import COUNTED
from vidpipe.api.pagination import CursorParam, LimitParam, decode_id, decode_time_id, encode_id, encode_time_id
from vidpipe.api.schemas import (
    NO_NUL,
    AssetCreateFromSource,
    AssetList,
    AssetPublic,
    AssetStatus,
    AssetUpdate,
    ErrorBody,
    EventList,
    EventPublic,
    PlaybackPublic,
)
from vidpipe.cache.http import entry_response
from vidpipe.cache.reads import LISTS_VERSION, Entry, asset_key, found, make_entry
from vidpipe.db import assets as asset_store
from vidpipe.db import events
from vidpipe.db.models import Artifact, Asset, Event, Job, MediaInfo
from vidpipe.errors import InputError, LimitExceededError
from vidpipe.ingest.service import IngestRequest, IngestResult, ingest_path, ingest_url
from vidpipe.jobs import queue as jobs
from vidpipe.runtime import Runtime
from vidpipe.states import JobStatus

log = logging.getLogger(__name__)
router = APIRouter(prefix="/assets", tags=["assets"], responses={401: {"model": ErrorBody}})

MAX_JSON_BODY = 64 * 1024
PLAYBACK_KINDS = ("hls_master", "poster", "sprite_vtt")
_CREATE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary"},
                "title": {"type": "string", "maxLength": 500, "pattern": NO_NUL},
                "description": {"type": "string", "maxLength": 20_000, "pattern": NO_NUL},
                "tags": {"type": "string", "description": "comma-separated", "maxLength": 10_000, "pattern": NO_NUL},
                "profile": {"type": "string", "maxLength": 64, "pattern": NO_NUL},
                "priority": {"type": "integer", "minimum": -100, "maximum": 100},
            },
        }},
        "application/json": {"schema": AssetCreateFromSource.request_schema()},
    },
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssetPublic,
             responses={200: {"model": AssetPublic, "description": "The same bytes were already ingested"},
                        413: {"model": ErrorBody}, 422: {"model": ErrorBody}, 400: {"model": ErrorBody}},
             openapi_extra={"requestBody": _CREATE_BODY})
async def create_asset(request: Request, response: Response, rt: RuntimeDep, caller: IngestCallerDep) -> AssetPublic:
    """Upload a file (multipart, streamed to storage as it arrives) or import a server path / fetch a URL (JSON)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == "multipart/form-data":
        req = IngestRequest(source_kind="upload", actor=caller)
        result = await upload.receive_upload(rt, request, req, request.app.state.upload_limiter)
    elif content_type == "application/json":
        result = await _create_from_source(rt, request, caller)
    else:
        raise InputError("send multipart/form-data (a file upload) or application/json (path or url)",
                         code="unsupported_content_type")
    if result.duplicate:
        response.status_code = status.HTTP_200_OK
    view = await anyio.to_thread.run_sync(_view, rt, result.asset.id)
    return view.model_copy(update={"duplicate": result.duplicate})


async def _create_from_source(rt: Runtime, request: Request, caller: str) -> IngestResult:
    upload.check_declared_length(request, MAX_JSON_BODY)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BODY:
            raise LimitExceededError(f"a JSON body may have at most {MAX_JSON_BODY} bytes")
    try:
        body = AssetCreateFromSource.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
    req = IngestRequest(source_kind="path" if body.path else "url", title=body.title,
                        description=body.description or "", tags=upload.parse_tags(",".join(body.tags or [])),
                        profile=body.profile, priority=body.priority, actor=caller)
    path, url = body.path, body.url
    if path is not None:  # only below settings.import_roots; the API never adds roots
        return await anyio.to_thread.run_sync(lambda: ingest_path(rt, path, req))
    assert url is not None  # the model admits exactly one of path and url
    return await anyio.to_thread.run_sync(lambda: ingest_url(rt, url, req))


def _view(rt: Runtime, asset_id: uuid.UUID) -> AssetPublic:
    rt.cache.invalidate_assets([asset_id])  # lists show it now
    with rt.db.session() as s:
        return views.load_asset(s, asset_id, rt.settings.public_base_url, rt.playback)


@router.get("", response_model=AssetList, responses={304: {"description": "Not modified (If-None-Match)"}})
def list_assets(
    request: Request, session: SessionDep, rt: RuntimeDep, caller: CallerDep,
    status_: Annotated[AssetStatus | None, Query(alias="status")] = None,
    min_duration: Annotated[float | None, Query(ge=0)] = None,
    max_duration: Annotated[float | None, Query(ge=0)] = None,
    min_height: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    codec: Annotated[str | None, Query(max_length=32, description="video codec, e.g. h264")] = None,
    q: Annotated[str | None, Query(max_length=200, description="words in the title")] = None,
    limit: LimitParam = 20,
    cursor: CursorParam = None,
) -> Response:
    """Newest first; `next_cursor` continues after the last item (stable while new assets arrive).
    Cached for a few seconds, dropped on any asset change; ETag / If-None-Match gives 304."""
    params = f"{urlencode(sorted(request.query_params.multi_items()))}@{rt.settings.public_base_url or ''}".encode()
    key = f"list:{hashlib.blake2b(params, digest_size=16).hexdigest()}"
    entry = rt.cache.reads.get(key, LISTS_VERSION, rt.settings.cache.list_ttl_seconds,
                               lambda: make_entry(_list(session, rt, status_, min_duration, max_duration, min_height,
                                                        codec, q, limit, cursor).model_dump_json().encode()))
    return entry_response(request, found(entry, "the asset list"))


def _list(session: Session, rt: Runtime, status_: AssetStatus | None, min_duration: float | None,
          max_duration: float | None, min_height: int | None, codec: str | None, q: str | None, limit: int,
          cursor: str | None) -> AssetList:
    stmt: Select[uuid.UUID, datetime] = select(Asset.id, Asset.created_at)
    if status_:
        stmt = stmt.where(Asset.status == status_)
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Asset.title.ilike(f"%{escaped}%", escape="\\"))
    media_filters = [
        MediaInfo.duration >= min_duration if min_duration is not None else None,
        MediaInfo.duration <= max_duration if max_duration is not None else None,
        MediaInfo.height >= min_height if min_height is not None else None,
        MediaInfo.video_codec == codec.lower() if codec else None,
    ]
    if any(f is not None for f in media_filters):
        stmt = stmt.join(MediaInfo, MediaInfo.asset_id == Asset.id).where(
            *[f for f in media_filters if f is not None])
    if cursor:
        stmt = stmt.where(tuple_(Asset.created_at, Asset.id) < tuple_(*decode_time_id(cursor)))
    rows = session.execute(stmt.order_by(Asset.created_at.desc(), Asset.id.desc()).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    items = views.load_assets(session, [r.id for r in page], rt.settings.public_base_url, rt.playback)
    return AssetList(items=items, next_cursor=encode_time_id(page[-1].created_at, page[-1].id) if more else None)


@router.get("/{asset_id}", response_model=AssetPublic, responses={
    304: {"description": "Not modified (If-None-Match)"}, 404: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def get_asset(asset_id: uuid.UUID, request: Request, rt: RuntimeDep, key_name: KeyNameDep) -> Response:
    """Served from the cache (dropped on every change to the asset); ETag / If-None-Match gives 304."""
    cache = rt.cache
    key, version = asset_key(asset_id, rt.settings.public_base_url)
    counted = request.scope.get(COUNTED, False)  # by the fast lane in front (vidpipe.api.fastpath)
    counter = cache.limiter.counter(key_name) if cache.limiter.enabled and not counted else None
    entry, _ = await cache.reads.aget(key, version, rt.settings.cache.asset_ttl_seconds,
                                      partial(load_entry, rt, asset_id), counter=counter,
                                      check=None if counted else partial(cache.limiter.check, key_name))
    cache.views.count(asset_id)
    return entry_response(request, found(entry, f"asset {asset_id}"))


def load_entry(rt: Runtime, asset_id: uuid.UUID) -> Entry:
    with rt.db.session() as s:
        return views.asset_entry(s, asset_id, rt.settings.public_base_url, rt.playback)


@router.get("/{asset_id}/playback", response_model=PlaybackPublic, responses={404: {"model": ErrorBody}})
def asset_playback(asset_id: uuid.UUID, session: SessionDep, rt: RuntimeDep, caller: CallerDep,
                   ttl_seconds: Annotated[int | None, Query(ge=60, le=7 * 24 * 3600, description=(
                       "Lifetime of the URLs (default: the server's playback_url_ttl_seconds)"))] = None,
                   ) -> Response:
    """Signed, expiring URLs of the asset's HLS master playlist, poster, scrub previews and original, for a
    player or an embed that has no API key (give them to it; they grant nothing else)."""
    asset = asset_store.get_asset(session, asset_id)
    keys = dict(session.execute(select(Artifact.kind, func.min(Artifact.key))
                                .where(Artifact.asset_id == asset_id, Artifact.kind.in_(PLAYBACK_KINDS))
                                .group_by(Artifact.kind)).all())
    links = views.playback_links(rt.playback, asset_id, asset.original_key, keys, ttl_seconds)
    return Response(links.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"})


@router.patch("/{asset_id}", response_model=AssetPublic, responses={404: {"model": ErrorBody}})
def update_asset(asset_id: uuid.UUID, body: AssetUpdate, session: SessionDep, rt: RuntimeDep,
                 caller: AdminCallerDep) -> AssetPublic:
    """Change title, description or tags; records `asset.updated` with the caller as actor."""
    asset = asset_store.get_asset(session, asset_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    if "tags" in changes:
        changes["tags"] = upload.parse_tags(",".join(changes["tags"] or []))
    changes = {k: v if v is not None else ("" if k != "tags" else []) for k, v in changes.items()}
    changed = {k: v for k, v in changes.items() if getattr(asset, k) != v}
    if changed:
        for key, value in changed.items():
            setattr(asset, key, value)
        asset_store.touch_asset(session, asset_id)
        events.record(session, "asset.updated", actor=caller, asset_id=asset_id, changes=changed)
        session.commit()
    return views.load_asset(session, asset_id, rt.settings.public_base_url, rt.playback)


@router.delete("/{asset_id}", status_code=status.HTTP_204_NO_CONTENT, responses={404: {"model": ErrorBody}})
def delete_asset(asset_id: uuid.UUID, session: SessionDep, rt: RuntimeDep, caller: AdminCallerDep) -> Response:
    """Delete the asset, its rows and its media; running jobs are asked to stop. The audit log stays."""
    asset = asset_store.get_asset(session, asset_id, lock=True)
    running = session.scalars(select(Job.id).where(Job.asset_id == asset_id, Job.status == JobStatus.RUNNING)).all()
    for job_id in running:
        jobs.cancel(session, job_id, actor=caller)
    # Rows go with the asset (ON DELETE CASCADE); a worker still running finds its job gone at the next heartbeat.
    events.record(session, "asset.deleted", actor=caller, asset_id=asset_id, sha256=asset.sha256,
                  original_name=asset.original_name, cancelled_jobs=list(running))
    session.flush()
    session.execute(delete(Asset).where(Asset.id == asset_id))
    asset_store.touch_asset(session, asset_id)
    session.commit()
    removed = rt.media_store.delete_prefix(str(asset_id))
    log.info("asset.deleted", extra={"asset": str(asset_id), "files": removed, "actor": caller})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{asset_id}/events", response_model=EventList, responses={404: {"model": ErrorBody}})
def asset_events(asset_id: uuid.UUID, session: SessionDep, caller: CallerDep,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100, cursor: CursorParam = None) -> EventList:
    """The audit log of one asset, oldest first (it outlives a deleted asset)."""
    stmt = select(Event).where(Event.asset_id == asset_id)
    if cursor:
        stmt = stmt.where(Event.id > decode_id(cursor))
    rows = session.scalars(stmt.order_by(Event.id).limit(limit + 1)).all()
    if not rows and not cursor:
        asset_store.get_asset(session, asset_id)  # 404 for an id we never saw
    page = rows[:limit]
    return EventList(items=[EventPublic.model_validate(e) for e in page],
                     next_cursor=encode_id(page[-1].id) if len(rows) > limit else None)
