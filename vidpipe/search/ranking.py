"""The order of near duplicates: closest first, and among candidates the fingerprints cannot tell apart, the
richest file first (pure: scores and file facts in, an order out).

A copy's source and the source's other lossless-ish copies (a re-encode at the same size, a remux with the
sound turned down, a mirrored copy) sit within a few hash bits of each other: a copy scores its source and
such a sibling alike, give or take re-encode noise (~1-2 of 128 bits, 0.01-0.015 of the score on the quality
bench). Which of them is the original is not in the pictures, so within that noise (`TIE_BAND`) the
candidate with the most information ranks first — the higher bit rate, then the larger frame — since a copy
is made from its source and each re-encode loses some: the original is usually the richest file of the
family. Outside the band the score alone decides. Limits: an upscaled re-upload at a higher bit rate than
its source would rank first among equally close candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

TIE_BAND = 0.02  # ~2.5 of 128 hash bits: differences below this are re-encode noise, not closeness

T = TypeVar("T")


@dataclass(frozen=True)
class Fidelity:
    """What a file holds: its bit rate (bits/s) and frame size (pixels), None when unknown."""

    bit_rate: int | None = None
    pixels: int | None = None

    def key(self) -> tuple[int, int]:
        return (self.bit_rate or 0, self.pixels or 0)


def rank_near(items: Sequence[T], score: Callable[[T], float], fidelity: Callable[[T], Fidelity],
              tie_key: Callable[[T], str] = str, band: float = TIE_BAND) -> list[T]:
    """`items` best first: repeatedly take, among the remaining items scoring within `band` of the best remaining
    score, the richest (`fidelity`), then the higher score, then `tie_key` (a stable order)."""
    rest = sorted(items, key=lambda x: (-score(x), tie_key(x)))
    out: list[T] = []
    while rest:
        top = score(rest[0])
        tied = [x for x in rest if top - score(x) <= band]
        pick = min(tied, key=lambda x: (tuple(-v for v in fidelity(x).key()), -score(x), tie_key(x)))
        out.append(pick)
        rest.remove(pick)
    return out
