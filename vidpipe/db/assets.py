"""Asset rows and what stages write about them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, delete, false, or_, select, text
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.orm import Session

from vidpipe.contract import StageResult
from vidpipe.db import events
from vidpipe.db.models import Artifact, Asset, Job, MediaInfo, Rendition
from vidpipe.db.understanding import save_understanding
from vidpipe.errors import NotFoundError

MEDIA_INFO_KEYS = ("format", "duration", "bit_rate", "width", "height", "rotation", "fps", "video_codec",
                   "audio_codec", "has_video", "has_audio")


def get_asset(session: Session, asset_id: uuid.UUID, *, lock: bool = False) -> Asset:
    asset = session.get(Asset, asset_id, with_for_update=lock)
    if asset is None:
        raise NotFoundError(f"asset {asset_id} not found")
    return asset


# Session.info key: assets whose cached responses this transaction changes (vidpipe.cache.invalidation).
TOUCHED = "vidpipe.touched_assets"


def touch_asset(session: Session, asset_id: uuid.UUID) -> None:
    """Mark that this transaction changes what the asset's responses show; caches drop it after the commit."""
    session.info.setdefault(TOUCHED, set()).add(asset_id)


def set_status(session: Session, asset: Asset, status: str, *, actor: str, error_code: str | None = None,
               error: str | None = None) -> None:
    touch_asset(session, asset.id)  # even unchanged: the caller usually changed a job of the asset too
    if asset.status == status and asset.error_message == error:
        return
    previous = asset.status
    asset.status, asset.error_code, asset.error_message = status, error_code, error
    detail: dict[str, Any] = {"from": previous, "to": status}
    if error:
        detail |= {"error_code": error_code, "error": error}
    events.record(session, "asset.status_changed", actor=actor, asset_id=asset.id, **detail)


def latest_stage_status(session: Session, asset_id: uuid.UUID) -> dict[str, Job]:
    """The most recent job of each stage of an asset."""
    rows = session.scalars(
        select(Job).where(Job.asset_id == asset_id).order_by(Job.stage, Job.id.desc()).ext(distinct_on(Job.stage))
    ).all()
    return {job.stage: job for job in rows}


def save_stage_result(session: Session, asset_id: uuid.UUID, stage: str, result: StageResult,
                      sizes: dict[str, int], *, replace: bool = True) -> list[str]:
    """Replace what an earlier run of `stage` wrote. Returns store keys that are no longer referenced.

    replace=False (the parts of a chunked transcode): only the files it writes again are replaced; what an
    earlier run of the part wrote stays until its join (vidpipe.jobs.chunked.after_join) clears it."""
    touch_asset(session, asset_id)
    mine: ColumnElement[bool] = Artifact.stage == stage
    chunked = stage == "transcode" and bool(result.metadata.get("chunked"))
    if chunked:  # this run only plans: the files (and renditions) of the one before stay until its join
        mine = false()
    elif stage == "transcode":  # a new transcode replaces the parts of a chunked one too (transcode_chunk.3, ...)
        mine = or_(mine, Artifact.stage.like("transcode\\_%"))
    if not replace:
        mine = Artifact.key.in_([f"{asset_id}/{out.key}" for out in result.outputs])
    old_keys = set(session.scalars(select(Artifact.key).where(Artifact.asset_id == asset_id, mine)).all())
    session.execute(delete(Artifact).where(Artifact.asset_id == asset_id, mine))
    new_keys = set()
    for out in result.outputs:
        key = f"{asset_id}/{out.key}"
        new_keys.add(key)
        session.add(Artifact(asset_id=asset_id, stage=stage, kind=out.kind, key=key,
                             content_type=out.content_type, size_bytes=sizes.get(key, 0)))
    if stage in ("transcode", "transcode_join") and not chunked:  # the single job's ladder, or the join's
        session.execute(delete(Rendition).where(Rendition.asset_id == asset_id))
        for r in result.renditions:
            session.add(Rendition(asset_id=asset_id, name=r.name, kind=r.kind,
                                  playlist_key=f"{asset_id}/{r.playlist_key}", width=r.width, height=r.height,
                                  bandwidth=r.bandwidth, codecs=r.codecs, language=r.language,
                                  quality=r.quality))
    probe = result.metadata.get("probe")
    if probe is not None:
        values = {k: probe.get(k) for k in MEDIA_INFO_KEYS} | {"asset_id": asset_id, "probe": probe}
        values["rotation"] = values["rotation"] or 0
        values["has_video"] = bool(values["has_video"])
        values["has_audio"] = bool(values["has_audio"])
        stmt = insert(MediaInfo).values(**values)
        session.execute(stmt.on_conflict_do_update(index_elements=["asset_id"],
                                                   set_={k: stmt.excluded[k] for k in values if k != "asset_id"}))
    if result.understanding is not None:
        save_understanding(session, asset_id, stage, result.understanding)
    session.flush()
    return sorted(old_keys - new_keys)


def probe_of(session: Session, asset_id: uuid.UUID) -> dict[str, Any] | None:
    info = session.get(MediaInfo, asset_id)
    return info.probe if info else None


def lock_asset_row(session: Session, asset_id: uuid.UUID) -> None:
    """Serialise stage completions of one asset so 'all stages done' is decided once."""
    session.execute(text("SELECT 1 FROM assets WHERE id = :id FOR UPDATE"), {"id": asset_id})
