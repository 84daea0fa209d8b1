"""Near duplicates in order: closest first; among equally close ones the richest file (the likely original)."""

from __future__ import annotations

import numpy as np

from vidpipe.search.duplicates import frame_hashes
from vidpipe.search.matching import FrameHashes, best_match
from vidpipe.search.ranking import TIE_BAND, Fidelity, rank_near


def _rank(scored: dict[str, tuple[float, Fidelity]]) -> list[str]:
    return rank_near(list(scored), lambda n: scored[n][0], lambda n: scored[n][1])


def test_a_copy_ranks_its_source_above_a_sibling_within_hash_noise():
    # a logo'd copy scores the source and the source's volume-changed sibling alike (re-encode noise)
    scored = {"volume-copy": (0.9655, Fidelity(148_000, 320 * 180)),
              "source": (0.9611, Fidelity(271_000, 320 * 180)),
              "scale-copy": (0.9645, Fidelity(104_000, 160 * 90))}
    assert _rank(scored) == ["source", "volume-copy", "scale-copy"]


def test_clearly_closer_beats_richer():
    scored = {"close": (0.97, Fidelity(100_000, 320 * 180)),
              "rich-but-far": (0.97 - 2 * TIE_BAND, Fidelity(5_000_000, 1920 * 1080))}
    assert _rank(scored) == ["close", "rich-but-far"]


def test_unknown_fidelity_falls_back_to_score_then_name():
    scored = {"b": (0.95, Fidelity()), "a": (0.95, Fidelity()), "c": (0.96, Fidelity())}
    assert _rank(scored) == ["c", "a", "b"]


def test_the_band_follows_the_remaining_best():
    # each pick is the richest within the band of the best *remaining* score: a chain of near-ties does not
    # let a far, rich candidate climb over a much closer one
    scored = {"x": (0.99, Fidelity(1)), "y": (0.975, Fidelity(2)), "z": (0.96, Fidelity(3))}
    assert _rank(scored) == ["y", "x", "z"]  # z (0.03 under x) never passes x


def _video(size):
    rng = np.random.default_rng(5)
    pictures = rng.integers(0, 2**63, size=(10, 2), dtype=np.int64).astype(np.uint64)
    hashes = pictures[np.arange(30) // 3]
    return FrameHashes(np.arange(30, dtype=float), hashes, 30.0, 1.0, hashes ^ np.uint64(0xFF), size)


def test_equal_hashes_at_another_frame_size_are_not_identical():
    """A letterboxed copy and a downscaled copy hash alike once the bars are cropped: a near duplicate, not an
    exact one (that is for remuxes: the same pictures at the same size)."""
    a, same, smaller = _video((320, 180)), _video((320, 180)), _video((160, 90))
    assert best_match(a, same).is_identical(a, same)
    m = best_match(a, smaller)
    assert m.is_near() and not m.is_identical(a, smaller)
    assert best_match(a, _video(None)).is_identical(a, _video(None))  # old fingerprints: size unknown


def test_stored_fingerprints_carry_the_frame_size():
    common = {"interval": 1.0, "duration": 3.0, "times": [0.0, 1.0, 2.0], "size": [320, 180]}
    fh = frame_hashes({**common, "hashes": ["ff", "0f", "f0"]})
    assert fh.size == (320, 180)
    assert frame_hashes({**common, "size": None, "hashes": ["ff", "0f", "f0"]}).size is None
