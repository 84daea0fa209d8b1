"""Text search over clip-level vectors: one nearest-neighbour query per (modality, model), merged by score."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session

from vidpipe import cursors
from vidpipe.errors import InputError, ModalityNotConfigured, QueryModelUnavailable
from vidpipe.search.index import (
    ensure_index_for_search,
    require_vectors,
    scope_predicate,
    tune_session,
    vector_expr,
)
from vidpipe.settings import Settings

# Search modality -> (embedder that encodes the query, stored vector modalities it searches).
MODALITIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "visual": ("clip", ("visual",)),
    "audio": ("clap", ("audio",)),
    "speech": ("text", ("speech", "text")),  # transcript segments + title/description
}
MAX_WINDOW = 1000  # offset + limit a cursor may reach


@dataclass(frozen=True)
class QueryVector:
    modality: str  # search modality: visual | audio | speech
    model: str
    vector: np.ndarray


@dataclass
class SearchFilters:
    min_duration: float | None = None
    max_duration: float | None = None
    min_height: int | None = None
    tags: list[str] = field(default_factory=list)  # user tags, all required
    machine_tags: list[str] = field(default_factory=list)  # model labels, all required
    machine_tag_min_score: float = 0.25
    since: datetime | None = None

    def active(self) -> bool:
        return any((self.min_duration is not None, self.max_duration is not None, self.min_height is not None,
                    self.tags, self.machine_tags, self.since is not None))


@dataclass
class Hit:
    asset_id: uuid.UUID
    start: float
    end: float
    score: float  # cosine similarity
    modality: str  # search modality that matched; "title" for a title/description match
    kind: str  # segment kind (scene, speech, audio, ...) or "metadata" for title/description
    text: str | None = None
    thumbnail_key: str | None = None
    model: str = ""


@dataclass
class AssetHits:
    asset_id: uuid.UUID
    score: float
    hits: list[Hit]


@dataclass
class SearchPage:
    hits: list[Hit] = field(default_factory=list)
    groups: list[AssetHits] | None = None
    next_cursor: str | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # modality -> why it was not searched


def encode_query(query: str, embedders: Mapping[str, Any], modalities: Iterable[str],
                 status: Mapping[str, str] | None = None) -> tuple[list[QueryVector], dict[str, str]]:
    """Embed the query with the text tower of each modality's embedder; report modalities that cannot run."""
    vectors, unavailable, configured_off = [], {}, set()
    for modality in modalities:
        if modality not in MODALITIES:
            raise InputError(f"unknown modality {modality!r} (visual, audio, speech, all)", code="invalid_modality")
        name = MODALITIES[modality][0]
        embedder = embedders.get(name)
        if embedder is None:
            why = (status or {}).get(name)
            if why is None:
                configured_off.add(modality)
                why = f"embedder {name!r} is not configured (VIDPIPE_EMBEDDERS)"
            unavailable[modality] = why
            continue
        vectors.append(QueryVector(modality, embedder.model, embedder.embed_texts([query])[0]))
    if not vectors:
        error = ModalityNotConfigured if configured_off == set(unavailable) else QueryModelUnavailable
        raise error("no embedder can encode this query: " + "; ".join(f"{m}: {w}" for m, w in unavailable.items()))
    return vectors, unavailable


def _cursor_key(vectors: list[QueryVector], filters: SearchFilters, group: bool) -> str:
    raw = json.dumps([[v.modality, v.model] for v in vectors] + [repr(filters), group], default=str)
    return hashlib.sha256(raw.encode() + b"".join(np.asarray(v.vector, np.float32).tobytes() for v in vectors)
                          ).hexdigest()[:12]


def encode_cursor(offset: int, key: str) -> str:
    return cursors.encode_cursor([offset, key])


def decode_cursor(cursor: str | None, key: str) -> int:
    if not cursor:
        return 0
    try:
        offset, got = cursors.decode_cursor(cursor)
    except ValueError:  # not a pair
        raise InputError("invalid cursor", code="invalid_cursor") from None
    if got != key or not isinstance(offset, int) or not 0 <= offset <= MAX_WINDOW:
        raise InputError("cursor belongs to another query", code="invalid_cursor")
    return offset


def _filter_sql(filters: SearchFilters, params: dict[str, Any]) -> str:
    clauses = []
    if filters.min_duration is not None:
        clauses.append("mi.duration >= :min_duration")
        params["min_duration"] = filters.min_duration
    if filters.max_duration is not None:
        clauses.append("mi.duration <= :max_duration")
        params["max_duration"] = filters.max_duration
    if filters.min_height is not None:
        clauses.append("mi.height >= :min_height")
        params["min_height"] = filters.min_height
    if filters.tags:
        clauses.append("a.tags @> CAST(:tags AS text[])")
        params["tags"] = list(filters.tags)
    for i, label in enumerate(filters.machine_tags):
        clauses.append(f"EXISTS (SELECT 1 FROM machine_tags mt WHERE mt.asset_id = a.id AND mt.label = :mt{i} "
                       "AND mt.score >= :mt_min)")
        params[f"mt{i}"] = label
        params["mt_min"] = filters.machine_tag_min_score
    if filters.since is not None:
        clauses.append("a.created_at >= :since")
        params["since"] = filters.since
    if not clauses:
        return ""
    return ("AND e.asset_id IN (SELECT a.id FROM assets a LEFT JOIN media_info mi ON mi.asset_id = a.id WHERE "
            + " AND ".join(clauses) + ")")


def nearest(session: Session, qv: QueryVector, *, kind: str, vector_modalities: tuple[str, ...], limit: int,
            filters: SearchFilters | None = None, exclude: list[uuid.UUID] | None = None) -> list[dict[str, Any]]:
    """The `limit` nearest stored vectors of qv's model (kind: "segment" or "pooled"), closest first."""
    dim = int(np.asarray(qv.vector).shape[0])
    ensure_index_for_search(session, qv.model, dim)
    params: dict[str, Any] = {"q": np.asarray(qv.vector, np.float32), "mods": list(vector_modalities),
                              "n": limit}
    filter_sql = _filter_sql(filters, params) if filters else ""
    if exclude:
        filter_sql += " AND e.asset_id <> ALL(:exclude)"
        params["exclude"] = list(exclude)
    # The modality (and any filter) is checked after the graph walk: always scan iteratively.
    tune_session(session, limit, filtered=True)
    expr = vector_expr(dim)
    sql = text(f"""
        SELECT e.id, e.asset_id, e.segment_id, e.modality, {expr} <=> :q AS distance
          FROM embeddings e
         WHERE {scope_predicate(qv.model, dim, kind)} AND e.modality = ANY(:mods) {filter_sql}
         ORDER BY {expr} <=> :q
         LIMIT :n""").bindparams(bindparam("q", type_=Vector(dim)), bindparam("mods", type_=ARRAY(Text())))
    if exclude:
        sql = sql.bindparams(bindparam("exclude", type_=ARRAY(UUID(as_uuid=True))))
    rows = [dict(r._mapping) for r in session.execute(sql, params)]
    rows.sort(key=lambda r: r["distance"])  # relaxed_order may return rows slightly out of order
    return rows


def _details(session: Session, rows: list[dict[str, Any]]) -> None:
    seg_ids = [r["segment_id"] for r in rows if r["segment_id"] is not None]
    asset_ids = list({r["asset_id"] for r in rows if r["segment_id"] is None})
    segments, durations = {}, {}
    if seg_ids:
        q = text("SELECT id, kind, start_s, end_s, text, keyframe_key FROM segments WHERE id = ANY(:ids)")
        segments = {r.id: r for r in session.execute(q, {"ids": seg_ids})}
    if asset_ids:
        # Without a probe (media_info), the end of the asset's last segment stands in for its duration.
        q = text("SELECT a.id, a.title, COALESCE(mi.duration, (SELECT max(s.end_s) FROM segments s "
                 "WHERE s.asset_id = a.id)) AS duration FROM assets a LEFT JOIN media_info mi ON mi.asset_id = a.id "
                 "WHERE a.id = ANY(:ids)").bindparams(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))
        durations = {r.id: r for r in session.execute(q, {"ids": asset_ids})}
    for r in rows:
        seg = segments.get(r["segment_id"])
        if seg is not None:
            r.update(kind=seg.kind, start=seg.start_s, end=seg.end_s, text=seg.text, thumb=seg.keyframe_key)
        else:
            meta = durations.get(r["asset_id"])
            r.update(kind="metadata", start=0.0, end=float(meta.duration or 0.0) if meta else 0.0,
                     text=meta.title if meta else None, thumb=None)


def _hit_modality(row: dict[str, Any]) -> str:
    # A title/description match is a "title" hit, not "speech" (both are searched by the text model).
    return "title" if row["modality"] == "text" else row["search_modality"]


def search(session: Session, vectors: list[QueryVector], *, filters: SearchFilters | None = None, limit: int = 20,
           cursor: str | None = None, group_by_asset: bool = False,
           floors: dict[str, float] | None = None) -> SearchPage:
    """Clip-level hits for already-encoded query vectors (see `encode_query`), best first, paginated.

    `floors` (stored modality -> lowest score, e.g. vidpipe.search.floors.FLOORS) drops hits that are noise."""
    require_vectors(session)
    filters = filters or SearchFilters()
    key = _cursor_key(vectors, filters, group_by_asset)
    offset = decode_cursor(cursor, key)
    window = min(MAX_WINDOW, offset + limit + 1)
    fetch = window * (5 if group_by_asset else 1)  # groups need several clips per asset
    rows: list[dict[str, Any]] = []
    for qv in vectors:
        stored = MODALITIES[qv.modality][1]
        clip_mods = tuple(m for m in stored if m != "text")
        if clip_mods:
            part = nearest(session, qv, kind="segment", vector_modalities=clip_mods, limit=fetch, filters=filters)
            rows += [dict(r, search_modality=qv.modality, model=qv.model) for r in part]
        if "text" in stored:  # title/description: one pooled vector per asset
            part = nearest(session, qv, kind="pooled", vector_modalities=("text",), limit=fetch, filters=filters)
            rows += [dict(r, search_modality=qv.modality, model=qv.model) for r in part]
    rows = [r for r in rows if floors is None or 1.0 - float(r["distance"]) >= floors.get(r["modality"], 0.0)]
    rows.sort(key=lambda r: (r["distance"], r["id"]))
    _details(session, rows[: fetch])
    hits = [Hit(asset_id=r["asset_id"], start=float(r["start"]), end=float(r["end"]),
                score=round(1.0 - float(r["distance"]), 6), modality=_hit_modality(r), kind=r["kind"],
                text=r["text"], thumbnail_key=r["thumb"], model=r["model"]) for r in rows[: fetch]]
    if group_by_asset:
        groups: dict[uuid.UUID, AssetHits] = {}
        for h in hits:
            g = groups.setdefault(h.asset_id, AssetHits(h.asset_id, h.score, []))
            g.hits.append(h)
        ordered = sorted(groups.values(), key=lambda g: -g.score)
        page = ordered[offset: offset + limit]
        more = len(ordered) > offset + limit
        nxt = encode_cursor(offset + limit, key) if more and offset + limit < MAX_WINDOW else None
        return SearchPage(hits=[h for g in page for h in g.hits], groups=page, next_cursor=nxt)
    page_hits = hits[offset: offset + limit]
    more = len(hits) > offset + limit
    nxt = encode_cursor(offset + limit, key) if more and offset + limit < MAX_WINDOW else None
    return SearchPage(hits=page_hits, next_cursor=nxt)


def query_embedders(settings: Settings, modalities: list[str]):
    """The configured embedders these modalities need (loaded once per process), and why others are missing."""
    from vidpipe.understanding.config import UnderstandingConfig
    from vidpipe.understanding.embedders import load_configured

    config = UnderstandingConfig.from_settings(settings)
    needed = {MODALITIES[m][0] for m in modalities}
    config = dataclasses.replace(config, embedders=tuple(e for e in config.embedders if e in needed))
    return load_configured(config)
