"""Duplicate videos from fingerprints (works without pgvector).

Exact: the same pictures AND the same sound — every sampled frame matches at the same time, and the audio
fingerprints agree (or neither video has sound). Shared sound alone (a background-music track) never makes
a duplicate. Near: re-encodes, resizes, crops, letterboxes, logos, trims and re-cuts, mirrored copies and
speed changes, found by alignment-free matching of the frame hashes (vidpipe.search.matching): the best
time offset and speed, checked on many frames, and an overlap spanning most of the longer video — so two
videos that merely share an intro (or a black opening, or a photo) are not duplicates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from vidpipe.analysis.audio_fingerprint import bit_error_rate
from vidpipe.errors import NotFoundError
from vidpipe.search.matching import FrameHashes, Match, best_match
from vidpipe.search.ranking import Fidelity, rank_near

MIN_DURATION_RATIO = 0.5  # candidates: the shorter video at least half the longer (trimmed, sped-up copies)
MAX_AUDIO_BER = 0.1  # the same sound: bit error rate of the audio fingerprints at the best alignment


@dataclass
class DuplicateHit:
    asset_id: uuid.UUID
    kind: str  # exact | near
    score: float  # exact: 1.0; near: matched share x hash agreement x shared share of the longer video
    reason: str  # phash_sequence(+audio) for exact, phash_aligned for near
    matched_frames: int = 0
    compared_frames: int = 0
    duration: float | None = None
    offset: float = 0.0  # seconds: the other video's time = speed x this video's time + offset
    speed: float = 1.0
    mirrored: bool = False
    fidelity: Fidelity = field(default_factory=Fidelity)  # bit rate and frame size: orders equally close hits


@dataclass
class Duplicates:
    exact: list[DuplicateHit]
    near: list[DuplicateHit]


def _ints(values: Any) -> list[int] | None:
    if not isinstance(values, list) or not values:
        return None
    try:
        return [int(v, 16) for v in values]
    except (TypeError, ValueError):
        return None


def frame_hashes(phash: Any, dhash: Any = None) -> FrameHashes | None:
    """From the stored `phash` (and `dhash` of the same frames) fingerprints; None when unusable."""
    if not isinstance(phash, dict):
        return None
    p = _ints(phash.get("hashes"))
    if p is None:
        return None
    interval = float(phash.get("interval") or 1.0)
    times = phash.get("times") or []
    if len(times) != len(p):
        times = [float(phash.get("start") or 0.0) + i * interval for i in range(len(p))]
    columns, mirrors = [p], [_ints(phash.get("mirror"))]
    if isinstance(dhash, dict) and dhash.get("interval") == phash.get("interval"):
        d = _ints(dhash.get("hashes"))
        if d is not None and len(d) == len(p):
            columns.append(d)
            mirrors.append(_ints(dhash.get("mirror")))
    mirrored = None
    if all(m is not None and len(m) == len(p) for m in mirrors):
        mirrored = np.array(mirrors, np.uint64).T
    size = phash.get("size")
    size = (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 and all(size) else None
    return FrameHashes(np.asarray(times, np.float64), np.array(columns, np.uint64).T,
                       float(phash.get("duration") or 0.0), interval, mirrored, size)


def _audio_words(data: Any) -> np.ndarray | None:
    """The audio fingerprint's words when informative (not empty, not one repeated value: silence)."""
    words = data.get("words") if isinstance(data, dict) else None
    if not isinstance(words, list) or len(set(words)) <= 1:
        return None
    return np.asarray(words, np.uint32)


def same_sound(a: Any, b: Any) -> bool | None:
    """True/False when both have an audio fingerprint; None when neither has sound; False when one lacks it."""
    wa, wb = _audio_words(a), _audio_words(b)
    if wa is None and wb is None:
        return None
    if wa is None or wb is None:
        return False
    return bit_error_rate(wa, wb) <= MAX_AUDIO_BER


def judge(mine: FrameHashes, theirs: FrameHashes, my_audio: Any = None, their_audio: Any = None
          ) -> DuplicateHit | None:
    """The verdict for one pair of videos: exact (pictures and sound), near, or None (different videos)."""
    m: Match | None = best_match(mine, theirs)
    if m is None or not m.is_near():
        return None
    hit = DuplicateHit(uuid.UUID(int=0), "near", m.score, "phash_aligned", m.matched, m.compared,
                       offset=round(m.offset, 3), speed=round(m.speed, 4), mirrored=m.mirrored)
    if m.is_identical(mine, theirs):
        sound = same_sound(my_audio, their_audio)
        if sound is None or sound:
            hit.kind, hit.score = "exact", 1.0
            hit.reason = "phash_sequence" if sound is None else "phash_sequence+audio"
    return hit


def duplicates(session: Session, asset_id: uuid.UUID, *, limit: int = 20) -> Duplicates:
    """Exact and near duplicates of `asset_id`, best first (needs only the fingerprints table)."""
    if session.execute(text("SELECT 1 FROM assets WHERE id = :id"), {"id": asset_id}).scalar() is None:
        raise NotFoundError(f"asset {asset_id} not found")
    prints = {r.kind: r.data for r in session.execute(
        text("SELECT kind, data FROM fingerprints WHERE asset_id = :id"), {"id": asset_id})}
    mine = frame_hashes(prints.get("phash"), prints.get("dhash"))
    exact: list[DuplicateHit] = []
    near: list[DuplicateHit] = []
    if mine is None:
        return Duplicates(exact=[], near=[])
    lo, hi = mine.duration * MIN_DURATION_RATIO, mine.duration / MIN_DURATION_RATIO
    rows = session.execute(text(
        "SELECT p.asset_id, p.data, d.data AS dhash, a.data AS audio, m.bit_rate, m.width * m.height AS pixels "
        "FROM fingerprints p "
        "LEFT JOIN fingerprints d ON d.asset_id = p.asset_id AND d.kind = 'dhash' "
        "LEFT JOIN fingerprints a ON a.asset_id = p.asset_id AND a.kind = 'audio' "
        "LEFT JOIN media_info m ON m.asset_id = p.asset_id "
        "WHERE p.kind = 'phash' AND p.asset_id <> :id "
        "AND (:d <= 0 OR COALESCE((p.data->>'duration')::float, 0) BETWEEN :lo AND :hi)"),
        {"id": asset_id, "d": mine.duration, "lo": lo, "hi": hi})
    for other, data, dhash, audio, bit_rate, pixels in rows:
        theirs = frame_hashes(data, dhash)
        if theirs is None:
            continue
        verdict = judge(mine, theirs, prints.get("audio"), audio)
        if verdict is None:
            continue
        verdict.asset_id, verdict.duration = other, theirs.duration
        verdict.fidelity = Fidelity(bit_rate, pixels)
        (exact if verdict.kind == "exact" else near).append(verdict)
    near = rank_near(near, lambda h: h.score, lambda h: h.fidelity, lambda h: str(h.asset_id))
    exact.sort(key=lambda h: str(h.asset_id))
    return Duplicates(exact=exact[:limit], near=near[:limit])
