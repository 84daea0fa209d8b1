"""Shot boundaries from tiny luma thumbnails (pure: arrays in, cut frame indices out).

Features: each frame as a 24x14 luma thumbnail (float, 0..1). Luma, not hue/saturation, so cuts between
two grayscale pictures count as much as between colour ones. d[i] = mean |thumb[i] - thumb[i-1]|.

- Hard cuts (adaptive): d[i] is at least `ratio` times the mean of its neighbours' d (two frames each
  side) and at least `min_diff`. Steady fast motion raises the neighbours too, so it is not a cut.
- Flash suppression: a jump whose picture comes back within `flash_seconds` (a frame after it is close to
  the frame before it, or the frame after it is close to one shortly before) is a flash or a brief
  occlusion, not a cut — both edges of the flash are dropped.
- Gradual transitions (dissolves, fades through black): at scale w (0.25, 0.5, 1 s), frame c is a
  transition centre when the pictures w before and w after differ by D, the stretches before and after
  are steady (their own change over 2w is under D / `steady_ratio`), each half moves monotonically
  (its summed frame differences stay near its end-to-end difference), and the middle frame is a mix of the
  pictures around it (or dark, for a fade) — a pan's middle frame is a shifted picture, not a mix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

THUMB = (14, 24)  # rows, columns


@dataclass(frozen=True)
class CutParams:
    ratio: float = 3.0  # hard cut: d against the mean of its neighbours
    min_diff: float = 12 / 255  # hard cut: mean absolute luma change at least this (or quiet_ratio below it)
    quiet_ratio: float = 10.0
    flash_seconds: float = 0.35
    gradual: bool = True
    gradual_scales: tuple[float, ...] = (0.25, 0.5, 1.0)  # seconds each side of a transition centre
    gradual_min_diff: float = 0.07
    steady_ratio: float = 1.6
    monotonic_slack: float = 1.35  # path length / end-to-end difference allowed per half
    blend_error: float = 0.35  # the middle frame against the mean of the pictures around it, / their difference
    min_scene_seconds: float = 0.5


def _blocks(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Averaging matrices of the thumbnail blocks of an h x w picture: rows (14, h) and columns (w, 24), the latter
    also scaling 0-255 to 0-1. rows @ picture @ columns is the thumbnail: two small matrix products, ~6x faster
    than summing the blocks with reduceat."""
    key = (h, w)
    if key not in _BLOCKS:
        rows, cols = THUMB
        ys, xs = (np.arange(rows + 1) * h) // rows, (np.arange(cols + 1) * w) // cols
        row_avg, col_avg = np.zeros((rows, h), np.float32), np.zeros((w, cols), np.float32)
        for i in range(rows):
            row_avg[i, ys[i]:ys[i + 1]] = 1.0 / (ys[i + 1] - ys[i])
        for j in range(cols):
            col_avg[xs[j]:xs[j + 1], j] = 1.0 / ((xs[j + 1] - xs[j]) * 255.0)
        _BLOCKS[key] = (row_avg, col_avg)
    return _BLOCKS[key]


_BLOCKS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # per frame size: computed once


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """24x14 luma (BT.601 weights) by block means over the frame; float32 0..1, flattened."""
    if rgb.ndim == 3:  # integer BT.601 weights (77, 150, 29) / 256: a fraction of the float cost per frame
        wide = rgb.astype(np.uint16)
        luma = (wide[..., 0] * 77 + wide[..., 1] * 150 + wide[..., 2] * 29) >> 8
    else:
        luma = rgb
    return thumbnails(luma[None])[0]


def thumbnails(lumas: np.ndarray) -> np.ndarray:
    """`thumbnail` of each of a stack of luma pictures (k, h, w), all at once."""
    k, h, w = lumas.shape
    row_avg, col_avg = _blocks(h, w)
    return (row_avg @ lumas.astype(np.float32) @ col_avg).reshape(k, -1)


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).mean(axis=-1)


def frame_diffs(thumbs: np.ndarray) -> np.ndarray:
    """d[i] = mean |thumb[i] - thumb[i-1]| (d[0] = 0)."""
    d = np.zeros(len(thumbs), np.float32)
    if len(thumbs) > 1:
        d[1:] = _dist(thumbs[1:], thumbs[:-1])
    return d


def _neighbours(d: np.ndarray, offsets: tuple[int, ...]) -> np.ndarray:
    """(len(d), len(offsets)) of d[i + offset], NaN where i + offset falls outside 1..len(d)-1 (d[0] is no step)."""
    reach = max(abs(o) for o in offsets)
    padded = np.full(d.size + 2 * reach, np.nan)
    padded[reach + 1: reach + d.size] = d[1:]
    return np.stack([padded[reach + o: reach + o + d.size] for o in offsets], axis=1)


def hard_cuts(thumbs: np.ndarray, fps: float, p: CutParams) -> list[int]:
    d = frame_diffs(thumbs)
    cand = np.flatnonzero(d >= p.min_diff / 3)
    if cand.size == 0:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no neighbour at all (handled below)
        around = np.nan_to_num(np.nanmean(_neighbours(d, (-2, -1, 1, 2))[cand], axis=1)) + 1e-3
        # a cut between two dark or flat pictures changes little in absolute terms but stands far out of its
        # neighbours: below min_diff, a cut needs `quiet_ratio` against the largest change within +-4 frames
        # (duplicated or jerky frames) instead of `ratio` against the mean of +-2
        widest = np.nan_to_num(np.nanmax(_neighbours(d, (-4, -3, -2, -1, 1, 2, 3, 4))[cand], axis=1)) + 2e-4
    step = d[cand].astype(np.float64)
    quiet = step < p.min_diff
    keep = np.where(quiet, step >= p.quiet_ratio * widest, step >= p.ratio * around)
    flash = max(1, round(p.flash_seconds * fps))
    return [i for i in cand[keep].tolist() if not _is_flash(thumbs, d, i, flash)]


def _is_flash(thumbs: np.ndarray, d: np.ndarray, i: int, span: int) -> bool:
    """The picture before the jump returns shortly after it (or the picture after it was there just before)."""
    close = max(0.35 * float(d[i]), 4 / 255)
    after = thumbs[i + 1: i + 1 + span]
    if len(after) and float(_dist(after, thumbs[i - 1]).min()) < close:
        return True
    before = thumbs[max(0, i - 1 - span): i - 1]
    return bool(len(before) and float(_dist(before, thumbs[i]).min()) < close)


def coarse(thumbs: np.ndarray) -> np.ndarray:
    """7x12 (2x2 means of the thumbnails): camera motion moves less across these blocks than a transition does."""
    rows, cols = THUMB
    t = thumbs.reshape(-1, rows // 2, 2, cols // 2, 2).mean(axis=(2, 4))
    return t.reshape(len(thumbs), -1)


def _merge_fades(found: list[tuple[int, float]], dark: np.ndarray, fps: float) -> list[tuple[int, float]]:
    """A fade out and the fade in after it (dark frames between them) are one transition, at the dark middle."""
    out: list[tuple[int, float]] = []
    for centre, strength in found:
        if out and centre - out[-1][0] <= 2 * fps:
            between = np.flatnonzero(dark[out[-1][0]: centre + 1]) + out[-1][0]
            if between.size:
                out[-1] = (int(between[between.size // 2]), max(strength, out[-1][1]))
                continue
        out.append((centre, strength))
    return out


def _centres(full: np.ndarray, cs: np.ndarray, w: int) -> np.ndarray:
    """For each c: the frame of [c-w, c+w] as far from the picture before as from the picture after (the
    transition's middle). All candidates of a scale at once, in blocks that keep the arrays small."""
    out = np.empty(cs.size, np.int64)
    offsets = np.arange(-w, w + 1)
    for i in range(0, cs.size, 64):
        c = cs[i:i + 64]
        span = full[c[:, None] + offsets[None, :]]  # (k, 2w+1, features)
        gap = np.abs(_dist(span, full[c - w][:, None]) - _dist(span, full[c + w][:, None]))
        out[i:i + 64] = c - w + np.argmin(gap, axis=1)
    return out


def _is_blend(full: np.ndarray, dark: np.ndarray, c: int, w: int, max_error: float) -> bool:
    """The middle frame is a mix of the pictures around it (a dissolve) or dark (a fade through black), not the
    picture half-way through a movement (a pan's middle is neither). A fade's dark frame need not be the frame
    half-way between the two pictures (they differ in brightness, so the fade out and in are uneven): a dark
    frame inside the window counts, the ends of the window being lit."""
    near = dark[max(0, c - w + 1): c + w]
    if near.any() and not (dark[max(0, c - w)] or dark[min(len(dark) - 1, c + w)]):
        return True
    if dark[c] and not (dark[c - w] and dark[c + w]):
        return True
    a, b = full[max(0, c - w)], full[min(len(full) - 1, c + w)]
    return float(_dist(full[c], (a + b) / 2)) <= max_error * max(float(_dist(a, b)), 1e-3)


def gradual_cuts(thumbs: np.ndarray, fps: float, p: CutParams, hard: list[int]) -> list[tuple[int, float]]:
    """(centre frame, strength) of dissolves and fades, strongest per transition, not overlapping hard cuts."""
    dark = thumbs.mean(axis=1) < 0.06
    full, thumbs = thumbs, coarse(thumbs)
    n = len(thumbs)
    d = frame_diffs(thumbs)
    path = np.concatenate([[0.0], np.cumsum(d[1:], dtype=np.float64)])  # path[j] - path[i]: sum of d(i+1..j)
    found: list[tuple[int, float, int]] = []
    hard_arr = np.asarray(hard, np.int64)
    for scale in p.gradual_scales:
        w = max(2, round(scale * fps))
        c = np.arange(3 * w, n - 3 * w)
        if c.size == 0:
            continue
        big = _dist(thumbs[c - w], thumbs[c + w])
        steady = np.maximum(_dist(thumbs[c - 3 * w], thumbs[c - w]), _dist(thumbs[c + w], thumbs[c + 3 * w]))
        left, right = _dist(thumbs[c - w], thumbs[c]), _dist(thumbs[c], thumbs[c + w])
        slack = p.monotonic_slack
        mono = ((path[c] - path[c - w] <= slack * left + w * 1.5 / 255)
                & (path[c + w] - path[c] <= slack * right + w * 1.5 / 255))
        ok = (big >= p.gradual_min_diff) & (big >= p.steady_ratio * steady) & mono
        # the transition's own frame steps are small: a hard cut inside the window explains the change instead
        steps = np.lib.stride_tricks.sliding_window_view(d, 2 * w)[c - w + 1].max(axis=1)
        ok &= steps < 0.5 * big
        hits = np.flatnonzero(ok)
        for k, centre in zip(hits.tolist(), _centres(full, c[hits], w).tolist(), strict=True):
            if hard_arr.size and np.abs(hard_arr - centre).min() <= 3 * w:
                continue
            if not _is_blend(full, dark, centre, w, p.blend_error):
                continue
            found.append((centre, float(big[k] / max(steady[k], 1e-3)), w))
    found.sort(key=lambda f: -f[1])
    kept: list[tuple[int, float, int]] = []
    for centre, strength, w in found:  # one centre per transition: suppress others within its window
        if all(abs(centre - k[0]) > max(w, k[2]) * 2 for k in kept):
            kept.append((centre, strength, w))
    return _merge_fades(sorted((k[0], k[1]) for k in kept), dark, fps)


def detect(thumbs: np.ndarray, fps: float, p: CutParams | None = None) -> list[tuple[int, str]]:
    """(frame index, "hard" | "gradual") of every shot boundary, in order, at least min_scene apart."""
    p = p or CutParams()
    if len(thumbs) < 2:
        return []
    hard = hard_cuts(thumbs, fps, p)
    cuts = [(i, "hard", 10.0) for i in hard]
    if p.gradual:
        cuts += [(i, "gradual", s) for i, s in gradual_cuts(thumbs, fps, p, hard)]
    cuts.sort()
    min_gap = max(1, round(p.min_scene_seconds * fps))
    out: list[tuple[int, str, float]] = []
    for cut in cuts:
        if out and cut[0] - out[-1][0] < min_gap:
            if cut[2] > out[-1][2]:
                out[-1] = cut
            continue
        if cut[0] < min_gap:
            continue
        out.append(cut)
    return [(i, kind) for i, kind, _ in out]
