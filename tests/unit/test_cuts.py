"""The shot-boundary core on synthetic frame arrays with known truth: cuts, dissolves, fades, flashes, fast motion."""

from __future__ import annotations

import numpy as np
import pytest

from vidpipe.analysis.cuts import CutParams, detect, thumbnail

FPS = 25
RNG = np.random.default_rng(4)


def picture(gray: bool = False, seed: int | None = None) -> np.ndarray:
    """A smooth random 'photo' (low frequencies), 112x200, uint8 RGB (or gray in all three channels)."""
    rng = np.random.default_rng(seed) if seed is not None else RNG
    small = rng.uniform(0, 255, size=(8, 12, 1 if gray else 3))
    big = np.kron(small, np.ones((14, 17, 1)))[:112, :200]
    img = np.clip(big + rng.normal(0, 3, big.shape), 0, 255)
    return np.repeat(img, 3, axis=2).astype(np.uint8) if gray else img.astype(np.uint8)


def pan(img: np.ndarray, frames: int, speed: float = 0.3) -> list[np.ndarray]:
    """Slow Ken-Burns-like drift: the picture shifts `speed` px per frame (wrapping)."""
    return [np.roll(img, int(k * speed), axis=1) for k in range(frames)]


def thumbs(frames: list[np.ndarray]) -> np.ndarray:
    return np.stack([thumbnail(f) for f in frames])


def test_hard_cuts_including_between_two_gray_pictures_of_equal_tone():
    a, b, c = picture(), picture(gray=True, seed=1), picture(gray=True, seed=2)
    b = (b.astype(float) - b.mean() + 128).clip(0, 255).astype(np.uint8)  # same mean brightness
    c = (c.astype(float) - c.mean() + 128).clip(0, 255).astype(np.uint8)
    frames = pan(a, 50) + pan(b, 50) + pan(c, 50)
    assert detect(thumbs(frames), FPS) == [(50, "hard"), (100, "hard")]


def test_a_flash_is_not_a_cut_and_the_cut_after_it_is():
    a, b = picture(), picture()
    frames = pan(a, 60) + pan(b, 40)
    for k in (30, 31):  # two over-exposed frames
        frames[k] = np.clip(frames[k].astype(int) + 150, 0, 255).astype(np.uint8)
    assert detect(thumbs(frames), FPS) == [(60, "hard")]


def test_fast_motion_is_not_a_cut():
    a = picture()
    wide = np.concatenate([a, a[:, ::-1], a], axis=1)
    frames = [wide[:, 0:200]] * 30 + [wide[:, 20 * k: 20 * k + 200] for k in range(1, 16)] + [wide[:, 300:500]] * 30
    assert detect(thumbs(frames), FPS) == []


@pytest.mark.parametrize("seed", [10, 20, 30, 40])
def test_dissolve_and_fade_through_black_are_found_near_their_centres(seed):
    a, b, c = (picture(seed=seed + k) for k in range(3))
    frames = pan(a, 60)
    last = frames[-1]
    frames += [(last * (1 - x) + b * x).astype(np.uint8) for x in np.linspace(0, 1, 25)]  # 1 s dissolve, centre 72
    frames += pan(b, 60)
    last = frames[-1]
    frames += [(last * (1 - x)).astype(np.uint8) for x in np.linspace(0, 1, 12)]  # fade out, black at 156
    frames += [(c * x).astype(np.uint8) for x in np.linspace(0, 1, 12)]
    frames += pan(c, 60)
    found = detect(thumbs(frames), FPS)
    assert [kind for _, kind in found] == ["gradual", "gradual"], found
    assert abs(found[0][0] - 72) <= 8 and abs(found[1][0] - 156) <= 8, found


def test_hard_only_mode_and_minimum_scene_length():
    a, b = picture(), picture()
    frames = [a] * 60 + [(a * (1 - x) + b * x).astype(np.uint8) for x in np.linspace(0, 1, 25)] + [b] * 60
    assert detect(thumbs(frames), FPS, CutParams(gradual=False)) == []
    quick = pan(a, 40) + pan(b, 5) + pan(a, 40)  # 0.2 s shot: only one of its two cuts is kept
    assert len(detect(thumbs(quick), FPS)) == 1


def test_a_cut_between_two_dark_pictures_is_found():
    a, b = (picture(seed=s) // 6 for s in (50, 51))  # night shots: luma under 45/255
    frames = [a] * 50 + [b] * 50
    assert detect(thumbs(frames), FPS) == [(50, "hard")]
