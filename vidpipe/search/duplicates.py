"""Duplicate videos from fingerprints (works without pgvector).

Exact: the same audio fingerprint, or the same perceptual-hash sequence (same bytes cannot happen: ingest
dedupes by sha256). Near: re-encodes, resizes, small crops and overlays, decided on many time-aligned frames
and the duration, so two videos that merely share an intro (or a black opening) are not duplicates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from vidpipe.errors import NotFoundError

# A sampled frame matches when at most this share of its hash bits differ. Both hashes (pHash + dHash, 128 bits):
# re-encodes, 5% crops and logos stay under it on every frame of the test corpus, while frames of unrelated
# clips fall under it in ~5% of pairs (tests/integration/test_search.py prints the figures).
MAX_BIT_DISTANCE = {128: 0.375, 64: 0.3}
MIN_COVERAGE = 0.8  # share of the longer video's sampled frames that must match
MIN_DURATION_RATIO = 0.9
MIN_DISTINCT = 3  # matched frames must show at least this many different pictures (not one static frame)
MAX_SHIFT = 2  # sample offsets tried when aligning (trimmed starts, different first key frame)


@dataclass
class DuplicateHit:
    asset_id: uuid.UUID
    kind: str  # exact | near
    score: float  # 1.0 for exact; near: matched share x mean hash agreement
    reason: str  # audio_fingerprint | phash_sequence | phash_aligned
    matched_frames: int = 0
    compared_frames: int = 0
    duration: float | None = None


@dataclass
class Duplicates:
    exact: list[DuplicateHit]
    near: list[DuplicateHit]


@dataclass(frozen=True)
class PhashSeq:
    interval: float
    hashes: tuple[int, ...]
    bits: int
    duration: float
    start: float = 0.0

    @classmethod
    def from_json(cls, data: Any, extra: Any = None) -> PhashSeq | None:
        """From the `phash` fingerprint; given the `dhash` of the same frames, a frame's hash is both, concatenated."""
        if not isinstance(data, dict) or not data.get("hashes"):
            return None
        try:
            hashes = [int(h, 16) for h in data["hashes"]]
            bits = 4 * max(len(h) for h in data["hashes"])
            if (isinstance(extra, dict) and len(extra.get("hashes") or []) == len(hashes)
                    and extra.get("interval") == data.get("interval")):
                extra_bits = 4 * max(len(h) for h in extra["hashes"])
                hashes = [(h << extra_bits) | int(x, 16) for h, x in zip(hashes, extra["hashes"], strict=True)]
                bits += extra_bits
            times = data.get("times") or []
            start = data.get("start", times[0] if times else 0.0)
            return cls(float(data.get("interval") or 1.0), tuple(hashes), bits, float(data.get("duration") or 0.0),
                       float(start or 0.0))
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Alignment:
    matched: int
    compared: int
    mean_distance: float  # share of differing bits over matched frames
    distinct: int

    def coverage(self, a: PhashSeq, b: PhashSeq) -> float:
        return self.matched / max(len(a.hashes), len(b.hashes), 1)


def align(a: PhashSeq, b: PhashSeq, *, max_bits: float | None = None, max_shift: int = MAX_SHIFT) -> Alignment:
    """Best time alignment of two hash sequences: frames of `a` paired with `b`'s frame at the same time."""
    best = Alignment(0, 0, 1.0, 0)
    if a.bits != b.bits:  # one has dHash too, the other not: compare what both have
        a, b = _phash_only(a), _phash_only(b)
    if max_bits is None:
        max_bits = MAX_BIT_DISTANCE.get(a.bits, MAX_BIT_DISTANCE[64])
    limit = max_bits * a.bits
    for shift in range(-max_shift, max_shift + 1):
        matched, compared, dist_sum, seen = 0, 0, 0, set()
        for i, ha in enumerate(a.hashes):
            t = a.start + (i + shift) * a.interval
            j = round((t - b.start) / b.interval)
            if not 0 <= j < len(b.hashes):
                continue
            compared += 1
            d = (ha ^ b.hashes[j]).bit_count()
            if d <= limit:
                matched += 1
                dist_sum += d
                seen.add(ha)
        mean = dist_sum / matched / a.bits if matched else 1.0
        cand = Alignment(matched, compared, mean, len(seen))
        if (cand.matched, -cand.mean_distance) > (best.matched, -best.mean_distance):
            best = cand
    return best


def _phash_only(seq: PhashSeq) -> PhashSeq:
    if seq.bits <= 64:
        return seq
    shift = seq.bits - 64
    return PhashSeq(seq.interval, tuple(h >> shift for h in seq.hashes), 64, seq.duration, seq.start)


def compare(a: PhashSeq, b: PhashSeq) -> DuplicateHit | None:
    """A near/exact verdict for two phash sequences, or None when they are different videos."""
    longer, shorter = max(a.duration, b.duration), min(a.duration, b.duration)
    if longer > 0 and shorter / longer < MIN_DURATION_RATIO:
        return None
    if a.hashes == b.hashes and len(set(a.hashes)) >= MIN_DISTINCT and abs(a.duration - b.duration) < 0.5:
        return DuplicateHit(uuid.UUID(int=0), "exact", 1.0, "phash_sequence", len(a.hashes), len(a.hashes))
    al = align(a, b)
    coverage = al.coverage(a, b)
    if coverage < MIN_COVERAGE or al.distinct < MIN_DISTINCT:
        return None
    score = round(coverage * (1.0 - al.mean_distance), 4)
    return DuplicateHit(uuid.UUID(int=0), "near", score, "phash_aligned", al.matched, al.compared)


def _informative_audio(data: Any) -> bool:
    """An audio fingerprint worth matching exactly: not empty, not one repeated value (silence)."""
    if isinstance(data, dict):
        values = [v for v in data.values() if isinstance(v, (list, str)) and len(v) > 0]
        return any(len(set(map(str, v))) > 1 if isinstance(v, list) else len(v) > 8 for v in values)
    if isinstance(data, list):
        return len(set(map(str, data))) > 1
    return isinstance(data, str) and len(data) > 8


def duplicates(session: Session, asset_id: uuid.UUID, *, limit: int = 20) -> Duplicates:
    """Exact and near duplicates of `asset_id`, best first (needs only the fingerprints table)."""
    if session.execute(text("SELECT 1 FROM assets WHERE id = :id"), {"id": asset_id}).scalar() is None:
        raise NotFoundError(f"asset {asset_id} not found")
    prints = {r.kind: r.data for r in session.execute(
        text("SELECT kind, data FROM fingerprints WHERE asset_id = :id"), {"id": asset_id})}
    prints["phash+dhash"] = (prints.get("phash"), prints.get("dhash"))
    exact: dict[uuid.UUID, DuplicateHit] = {}
    audio = prints.get("audio")
    if audio is not None and _informative_audio(audio):
        rows = session.execute(text("SELECT f.asset_id FROM fingerprints f WHERE f.kind = 'audio' "
                                    "AND f.asset_id <> :id AND f.data = (SELECT data FROM fingerprints "
                                    "WHERE asset_id = :id AND kind = 'audio')"), {"id": asset_id})
        for (other,) in rows:
            exact[other] = DuplicateHit(other, "exact", 1.0, "audio_fingerprint")
    near: list[DuplicateHit] = []
    mine = PhashSeq.from_json(*prints["phash+dhash"])
    if mine is not None:
        lo, hi = mine.duration * MIN_DURATION_RATIO, mine.duration / MIN_DURATION_RATIO
        rows = session.execute(text(
            "SELECT p.asset_id, p.data, d.data AS dhash FROM fingerprints p "
            "LEFT JOIN fingerprints d ON d.asset_id = p.asset_id AND d.kind = 'dhash' "
            "WHERE p.kind = 'phash' AND p.asset_id <> :id "
            "AND (:d <= 0 OR COALESCE((p.data->>'duration')::float, 0) BETWEEN :lo AND :hi)"),
            {"id": asset_id, "d": mine.duration, "lo": lo, "hi": hi})
        for other, data, dhash in rows:
            theirs = PhashSeq.from_json(data, dhash)
            verdict = compare(mine, theirs) if theirs is not None else None
            if verdict is None:
                continue
            verdict.asset_id, verdict.duration = other, theirs.duration
            if verdict.kind == "exact":
                exact.setdefault(other, verdict)
            elif other not in exact:
                near.append(verdict)
    near.sort(key=lambda h: (-h.score, str(h.asset_id)))
    exact_list = sorted(exact.values(), key=lambda h: str(h.asset_id))
    return Duplicates(exact=exact_list[:limit], near=near[:limit])
