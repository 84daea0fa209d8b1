"""Related videos: `similar` for one asset, `recommend` (MMR-diversified) for several.

`similar` uses every modality the asset actually has and says which: pooled vectors where pgvector and the
embedders are there (visual = CLIP, audio = CLAP, speech = transcript, metadata = title/description), and
always the analysis pass's fingerprints — `pictures` (frame hashes: shared shots, intros, copies) and `sound`
(audio fingerprint at any offset: the same music or recording). Each modality has a score floor measured on
unrelated pairs (docs/benchmarks.md, "Quality"); a candidate below every floor is not returned, so an asset
with nothing really related gets an empty list rather than the nearest noise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session

from vidpipe.analysis.audio_fingerprint import best_overlap
from vidpipe.db.understanding import has_embeddings_table
from vidpipe.errors import InputError, NotFoundError
from vidpipe.search.duplicates import frame_hashes
from vidpipe.search.index import require_vectors
from vidpipe.search.matching import best_match
from vidpipe.search.query import QueryVector, nearest
from vidpipe.understanding.embedders.base import l2_normalize, pool

# Stored modality of a pooled vector -> the reason reported for a match on it.
REASONS = {"visual": "visual", "audio": "audio", "speech": "speech", "text": "metadata"}
# Least score that means "related" per reason, above what unrelated pairs reach on the quality bench
# (docs/benchmarks.md): MiniLM cosines of unrelated sentences <= 0.40, of unrelated titles <= 0.45; frame-hash
# agreement of videos of other photographs <= 0.26; audio 1 - bit error rate of unrelated sound <= 0.55 (the same
# music: 1.0). CLIP/CLAP floors are not calibrated here (no weights on this machine): a conservative 0.8.
FLOORS = {"visual": 0.8, "audio": 0.8, "speech": 0.5, "metadata": 0.55, "pictures": 0.35, "sound": 0.75}
MMR_LAMBDA = 0.7  # relevance vs. novelty; 1.0 would be plain nearest neighbours


@dataclass
class SimilarAsset:
    asset_id: uuid.UUID
    score: float
    reason: str  # the modality that matched best: visual | audio | speech | metadata | pictures | sound
    scores: dict[str, float] = field(default_factory=dict)


class SimilarResults(list):
    """SimilarAssets best first, plus which modalities were compared (`modalities`: name -> "used" or why not)."""

    def __init__(self, items=(), modalities: dict[str, str] | None = None) -> None:
        super().__init__(items)
        self.modalities = modalities or {}


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


def _rank(found: dict[uuid.UUID, dict[str, float]], floors: dict[str, float] | None = None) -> list[SimilarAsset]:
    """Best reason per candidate; with `floors`, only reasons at or above their floor count."""
    out = []
    for asset_id, scores in found.items():
        kept = {r: s for r, s in scores.items() if floors is None or s >= floors.get(r, 1.0)}
        if not kept:
            continue
        reason = max(kept, key=lambda r: kept[r])
        out.append(SimilarAsset(asset_id, kept[reason], reason, dict(scores)))
    out.sort(key=lambda s: (-s.score, str(s.asset_id)))
    return out


def fingerprint_scores(session: Session, asset_id: uuid.UUID) -> tuple[dict[uuid.UUID, dict[str, float]],
                                                                         dict[str, str]]:
    """Per other asset: `pictures` (frame-hash agreement at the best alignment) and `sound` (1 - audio BER)."""
    prints = {r.kind: r.data for r in session.execute(
        text("SELECT kind, data FROM fingerprints WHERE asset_id = :id AND kind IN ('phash', 'dhash', 'audio')"),
        {"id": asset_id})}
    mine = frame_hashes(prints.get("phash"), prints.get("dhash"))
    words = (prints.get("audio") or {}).get("words") if isinstance(prints.get("audio"), dict) else None
    my_words = np.asarray(words, np.uint32) if words and len(set(words)) > 1 else None
    used = {"pictures": "used" if mine is not None else "no frame fingerprints",
            "sound": "used" if my_words is not None else "no informative audio fingerprint"}
    found: dict[uuid.UUID, dict[str, float]] = {}
    if mine is None and my_words is None:
        return found, used
    rows = session.execute(text(
        "SELECT a.id, p.data AS phash, d.data AS dhash, s.data AS audio FROM assets a "
        "LEFT JOIN fingerprints p ON p.asset_id = a.id AND p.kind = 'phash' "
        "LEFT JOIN fingerprints d ON d.asset_id = a.id AND d.kind = 'dhash' "
        "LEFT JOIN fingerprints s ON s.asset_id = a.id AND s.kind = 'audio' "
        "WHERE a.id <> :id AND (p.data IS NOT NULL OR s.data IS NOT NULL)"), {"id": asset_id})
    for other, phash, dhash, audio in rows:
        scores: dict[str, float] = {}
        theirs = frame_hashes(phash, dhash) if mine is not None else None
        if mine is not None and theirs is not None:
            m = best_match(mine, theirs)
            if m is not None and m.distinct >= 3:
                scores["pictures"] = round(m.matched / max(len(mine.times), 1) * (1.0 - m.mean_distance), 4)
        their_words = (audio or {}).get("words") if isinstance(audio, dict) and my_words is not None else None
        if my_words is not None and their_words and len(set(their_words)) > 1:
            ber, _ = best_overlap(my_words, np.asarray(their_words, np.uint32))
            scores["sound"] = round(1.0 - ber, 4)
        if scores:
            found[other] = scores
    return found, used


def similar(session: Session, asset_id: uuid.UUID, *, limit: int = 10) -> SimilarResults:
    """Other assets related to `asset_id` by every modality it has, best first, none under the score floors."""
    _require_assets(session, [asset_id])
    found, modalities = fingerprint_scores(session, asset_id)
    if has_embeddings_table(session):
        probes = _pooled(session, [asset_id]).get(asset_id, {})
        for reason in {REASONS[m] for m, _ in probes}:
            modalities[reason] = "used"
        for other, scores in _candidates(session, probes, [asset_id], max(limit * 3, 30)).items():
            found.setdefault(other, {}).update(scores)
    else:
        modalities["vectors"] = "this PostgreSQL server has no pgvector: embeddings not compared"
    return SimilarResults(_rank(found, FLOORS)[:limit], modalities)


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
    by_asset = _pooled(session, ids)
    n = len(ids)
    sim = np.zeros((n, n), dtype=np.float32)
    for key in centroids:
        mat = np.stack([by_asset.get(i, {}).get(key, np.zeros_like(centroids[key])) for i in ids])
        sim = np.maximum(sim, mat @ mat.T)
    relevance = np.array([r.score for r in ranked], dtype=np.float32)
    return [ranked[i] for i in mmr(relevance, sim, limit, lam)]
