"""Nearest videos by pooled (per-asset) vectors: `similar` for one asset, `recommend` (MMR-diversified) for several."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session

from vidpipe.errors import InputError, NotFoundError
from vidpipe.search.index import require_vectors
from vidpipe.search.query import QueryVector, nearest
from vidpipe.understanding.embedders.base import l2_normalize, pool

# Stored modality of a pooled vector -> the reason reported for a match on it.
REASONS = {"visual": "visual", "audio": "audio", "speech": "speech", "text": "metadata"}
MMR_LAMBDA = 0.7  # relevance vs. novelty; 1.0 would be plain nearest neighbours


@dataclass
class SimilarAsset:
    asset_id: uuid.UUID
    score: float
    reason: str  # the modality that matched best: visual | audio | speech | metadata
    scores: dict[str, float] = field(default_factory=dict)


_POOLED_SQL = text("""
    SELECT asset_id, modality, model, dim, embedding FROM embeddings
     WHERE asset_id = ANY(:ids) AND segment_id IS NULL""").bindparams(
    bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))).columns(embedding=Vector())


def _pooled(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[tuple[str, str], np.ndarray]]:
    out: dict[uuid.UUID, dict[tuple[str, str], np.ndarray]] = {}
    for row in session.execute(_POOLED_SQL, {"ids": ids}):
        if row.modality in REASONS:
            out.setdefault(row.asset_id, {})[(row.modality, row.model)] = l2_normalize(np.asarray(row.embedding))
    return out


def _require_assets(session: Session, ids: list[uuid.UUID]) -> None:
    found = set(session.execute(text("SELECT id FROM assets WHERE id = ANY(:ids)").bindparams(
        bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))), {"ids": ids}).scalars())
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"asset {', '.join(missing)} not found")


def _candidates(session: Session, probes: dict[tuple[str, str], np.ndarray], exclude: list[uuid.UUID],
                limit: int) -> dict[uuid.UUID, dict[str, float]]:
    """Per candidate asset: reason -> best cosine similarity to the probe vectors."""
    found: dict[uuid.UUID, dict[str, float]] = {}
    for (modality, model), vector in probes.items():
        qv = QueryVector(modality, model, vector)
        for row in nearest(session, qv, kind="pooled", vector_modalities=(modality,), limit=limit, exclude=exclude):
            reason = REASONS[modality]
            score = round(1.0 - float(row["distance"]), 6)
            scores = found.setdefault(row["asset_id"], {})
            scores[reason] = max(score, scores.get(reason, -1.0))
    return found


def _rank(found: dict[uuid.UUID, dict[str, float]]) -> list[SimilarAsset]:
    out = []
    for asset_id, scores in found.items():
        reason = max(scores, key=lambda r: scores[r])
        out.append(SimilarAsset(asset_id, scores[reason], reason, dict(scores)))
    out.sort(key=lambda s: (-s.score, str(s.asset_id)))
    return out


def similar(session: Session, asset_id: uuid.UUID, *, limit: int = 10) -> list[SimilarAsset]:
    """Nearest other assets by each pooled vector of `asset_id`, with the modality that matched best."""
    require_vectors(session)
    _require_assets(session, [asset_id])
    probes = _pooled(session, [asset_id]).get(asset_id, {})
    return _rank(_candidates(session, probes, [asset_id], limit))[:limit]


def mmr(relevance: np.ndarray, similarity: np.ndarray, k: int, lam: float = MMR_LAMBDA) -> list[int]:
    """Maximal marginal relevance: indices picked greedily by lam*relevance - (1-lam)*max-sim-to-picked."""
    picked: list[int] = []
    left = list(range(len(relevance)))
    while left and len(picked) < k:
        penalty = similarity[np.ix_(left, picked)].max(axis=1) if picked else np.zeros(len(left))
        gains = lam * relevance[left] - (1 - lam) * penalty
        best = left[int(np.argmax(gains))]
        picked.append(best)
        left.remove(best)
    return picked


def recommend(session: Session, seed_ids: list[uuid.UUID], *, limit: int = 10,
              lam: float = MMR_LAMBDA) -> list[SimilarAsset]:
    """What to watch next from several seeds: near the seeds' centroid, excluding them, diversified by MMR."""
    require_vectors(session)
    if not seed_ids:
        raise InputError("give at least one seed asset", code="invalid_seeds")
    seeds = list(dict.fromkeys(seed_ids))
    _require_assets(session, seeds)
    seed_vectors = _pooled(session, seeds)
    grouped: dict[tuple[str, str], list[np.ndarray]] = {}
    for vectors in seed_vectors.values():
        for key, v in vectors.items():
            grouped.setdefault(key, []).append(v)
    centroids = {key: pool(np.stack(vs)) for key, vs in grouped.items()}
    found = _candidates(session, centroids, seeds, max(50, limit * 5))
    ranked = _rank(found)
    if not ranked:
        return []
    ids = [r.asset_id for r in ranked]
    vectors = _pooled(session, ids)
    n = len(ids)
    sim = np.zeros((n, n), dtype=np.float32)
    for key in centroids:
        mat = np.stack([vectors.get(i, {}).get(key, np.zeros_like(centroids[key])) for i in ids])
        sim = np.maximum(sim, mat @ mat.T)
    relevance = np.array([r.score for r in ranked], dtype=np.float32)
    return [ranked[i] for i in mmr(relevance, sim, limit, lam)]
