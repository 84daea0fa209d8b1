"""The asset read model: one SQL statement returns assets with media info, renditions, artifacts and the
latest job of each stage (JSON-aggregated), so GET /v1/assets/{id} costs one query, not one per relation."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session

from vidpipe.api.schemas import (
    ArtifactPublic,
    AssetPublic,
    ErrorDetail,
    LoudnessPublic,
    MediaPublic,
    PlaybackPublic,
    RenditionPublic,
    StagePublic,
)
from vidpipe.cache.reads import Entry, make_entry
from vidpipe.errors import NotFoundError
from vidpipe.playback.signing import PlaybackSigner, url_for
from vidpipe.stages import registry

# HLS segments are artifacts too, but thousands of them per asset belong in playlists, not in this view.
_VIEW_SQL = text("""
SELECT a.id, a.title, a.description, a.tags, a.status, a.error_code, a.error_message, a.source_kind,
       a.original_name, a.sha256, a.size_bytes, a.profile, a.created_at, a.updated_at, a.original_key,
       m.asset_id IS NOT NULL AS has_media, m.duration, m.width, m.height, m.fps, m.video_codec, m.audio_codec,
       m.bit_rate, m.format, m.has_video, m.has_audio, m.rotation,
       (SELECT f.data FROM fingerprints f WHERE f.asset_id = a.id AND f.kind = 'loudness') AS loudness,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'name', r.name, 'kind', r.kind, 'width', r.width, 'height', r.height, 'bandwidth', r.bandwidth,
                   'codecs', r.codecs, 'language', r.language, 'key', r.playlist_key, 'quality', r.quality)
               ORDER BY r.height DESC NULLS LAST, r.name), '[]'::jsonb)
          FROM renditions r WHERE r.asset_id = a.id) AS renditions,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'kind', x.kind, 'key', x.key, 'content_type', x.content_type, 'size_bytes', x.size_bytes)
               ORDER BY x.key), '[]'::jsonb)
          FROM artifacts x WHERE x.asset_id = a.id AND x.kind <> 'hls_segment') AS artifacts,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'stage', j.stage, 'status', j.status, 'progress', j.progress, 'attempts', j.attempts,
                   'last_error', j.last_error)), '[]'::jsonb)
          FROM (SELECT DISTINCT ON (stage) stage, status, progress, attempts, last_error
                  FROM jobs WHERE jobs.asset_id = a.id ORDER BY stage, id DESC) j) AS stages
  FROM assets a LEFT JOIN media_info m ON m.asset_id = a.id
 WHERE a.id = ANY(:ids)
""").bindparams(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))

_FIRST_ARTIFACT = {"hls_master": "hls_master_url", "poster": "poster_url", "sprite_vtt": "sprite_vtt_url"}


def media_url(base: str | None, key: str) -> str:
    return f"{(base or '').rstrip('/')}/v1/media/{key}"


def signed_url(signer: PlaybackSigner, key: str, ttl_seconds: int | None = None) -> str:
    """A signed URL of a stored key: the grant covers the key's first directory (`hls/`, `thumbs/`), so files
    the key's document names relatively (variants, segments, sprite sheets) are covered; else the file itself."""
    asset_id, _, rest = key.partition("/")
    folder, slash, name = rest.partition("/")
    prefix = folder + slash if slash else rest
    return url_for(signer.sign(asset_id, prefix, ttl_seconds), name if slash else "")


def playback_links(signer: PlaybackSigner, asset_id: uuid.UUID, original_key: str, keys: Mapping[str, str | None],
                   ttl_seconds: int | None = None) -> PlaybackPublic:
    """`keys`: the stored keys of the HLS master, poster and sprite WebVTT (None when not made yet)."""
    def sign(key: str | None) -> str | None:
        return signed_url(signer, key, ttl_seconds) if key else None

    return PlaybackPublic(playback_url=sign(keys.get("hls_master")), poster_url=sign(keys.get("poster")),
                          sprite_vtt_url=sign(keys.get("sprite_vtt")),
                          download_url=signed_url(signer, original_key, ttl_seconds),
                          expires_at=datetime.fromtimestamp(signer.expiry(ttl_seconds), UTC))


def load_assets(session: Session, ids: Sequence[uuid.UUID], base_url: str | None,
                signer: PlaybackSigner | None = None) -> list[AssetPublic]:
    """The public views of `ids`, in the order given (missing ids are skipped); with `signer`, with playback
    links (signed URLs)."""
    if not ids:
        return []
    rows = {row.id: row for row in session.execute(_VIEW_SQL, {"ids": list(ids)})}
    return [_to_public(rows[i], base_url, signer) for i in ids if i in rows]


def load_asset(session: Session, asset_id: uuid.UUID, base_url: str | None,
               signer: PlaybackSigner | None = None) -> AssetPublic:
    found = load_assets(session, [asset_id], base_url, signer)
    if not found:
        raise NotFoundError(f"asset {asset_id} not found")
    return found[0]


def asset_entry(session: Session, asset_id: uuid.UUID, base_url: str | None,
                signer: PlaybackSigner | None = None) -> Entry:
    """The response body of GET /v1/assets/{id} as the cache keeps it (NotFoundError when missing)."""
    return make_entry(load_asset(session, asset_id, base_url, signer).model_dump_json().encode())


def _to_public(row: Any, base: str | None, signer: PlaybackSigner | None = None) -> AssetPublic:
    jobs = {j["stage"]: j for j in row.stages}
    stages = [_stage(name, jobs.get(name)) for name in registry.STAGES]
    stages += [_stage(name, job) for name, job in sorted(jobs.items()) if name not in registry.STAGES]
    artifacts = [ArtifactPublic(**a, url=media_url(base, a["key"])) for a in row.artifacts]
    links: dict[str, str | None] = dict.fromkeys(_FIRST_ARTIFACT.values())
    for a in artifacts:
        field = _FIRST_ARTIFACT.get(a.kind)
        if field and links[field] is None:
            links[field] = a.url
    media = None
    if row.has_media:
        media = MediaPublic(duration=row.duration, width=row.width, height=row.height, fps=row.fps,
                            video_codec=row.video_codec, audio_codec=row.audio_codec, bit_rate=row.bit_rate,
                            format=row.format, has_video=row.has_video, has_audio=row.has_audio,
                            rotation=row.rotation)
    error = None
    if row.error_code or row.error_message:
        error = ErrorDetail(code=row.error_code or "error", message=row.error_message or "")
    renditions = [RenditionPublic(**{k: v for k, v in r.items() if k != "key"}, url=media_url(base, r["key"]))
                  for r in row.renditions]
    playback = None
    if signer is not None:
        keys = {a.kind: a.key for a in reversed(artifacts) if a.kind in _FIRST_ARTIFACT}  # the first of each kind
        playback = playback_links(signer, row.id, row.original_key, keys)
    return AssetPublic(
        id=row.id, title=row.title, description=row.description, tags=list(row.tags), status=row.status,
        error=error, source_kind=row.source_kind, original_name=row.original_name, sha256=row.sha256,
        size_bytes=row.size_bytes, profile=row.profile, created_at=row.created_at, updated_at=row.updated_at,
        media=media, loudness=_loudness(row.loudness), stages=stages, renditions=renditions, artifacts=artifacts,
        original_url=media_url(base, row.original_key), playback=playback,
        hls_master_url=links["hls_master_url"], poster_url=links["poster_url"], sprite_vtt_url=links["sprite_vtt_url"],
        playable=links["hls_master_url"] is not None and row.status != "failed",
    )


def _loudness(data: Any) -> LoudnessPublic | None:
    """The analyze stage's EBU R128 measurement, when it ran on an audio track."""
    if not isinstance(data, dict) or data.get("integrated_lufs") is None:
        return None
    return LoudnessPublic(integrated_lufs=data["integrated_lufs"], range_lu=data.get("range_lu"),
                          true_peak_dbtp=data.get("true_peak_dbtp"), channels=data.get("channels"))


def _stage(name: str, job: dict[str, Any] | None) -> StagePublic:
    if job is None:
        return StagePublic(stage=name, status="pending", progress_percent=0, attempts=0, last_error=None)
    percent = round(max(0.0, min(1.0, float(job["progress"] or 0))) * 100, 1)
    return StagePublic(stage=name, status=job["status"], progress_percent=percent, attempts=job["attempts"],
                       last_error=job["last_error"])
