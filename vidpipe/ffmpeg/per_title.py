"""Per-title ladder decisions: what quality a title needs at each rung, and which rungs are worth keeping.

Pure core. The shell (vidpipe.ffmpeg.vmaf.analyse) encodes a few short sampled windows of the source at the top
rung's size: once at FIRST_CRF, once at `second_trial_crf` (a step towards the target from the first result), and
the lower rungs at that second CRF; it measures VMAF of each against the windows at the top rung's size. These
functions turn those measurements into a ladder:

- `second_trial_crf`: where to probe next, so the final estimate interpolates close to the target, not across a
  wide bracket (VMAF is not linear in CRF over 10 steps);
- `crf_for_target`: the CRF that reaches the target VMAF, interpolated between measured (CRF, VMAF) points;
- `window_kbps`: a rung's bitrate from the trial's frame sizes, with its keyframes at the ladder's spacing;
- `choose_rungs`: keep the top rung, then a lower rung only when it is at least `min_vmaf_step` below the last
  kept one (shown at the top rung's size) *and* saves bits — a rung that looks the same or costs the same adds
  nothing to the ladder — and the bottom rung whenever the others all cost more than the fixed ladder's bottom
  rung may: the ladder's floor for slow networks;
- `capped_rate`: the rung's bitrate cap (maxrate), at most CAP_HEADROOM times the fixed ladder's, so every rung
  stays streamable (the bottom rung: at most the fixed ladder's own, so whoever streams the fixed ladder streams
  this one); `under_cap`, `at_rate`: what a rung shows at another rate than its trial's, for its quality report.

Rungs are never above the source's size: that is `hls.plan_ladder`'s job and happens before this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CRF_RANGE = (14.0, 40.0)
FIRST_CRF = 26.0  # near where x264 veryfast reaches VMAF 90-95 on ordinary content
TYPICAL_SLOPE = 1.3  # VMAF points lost per CRF step around the usual targets (measured: 0.5 to 2.7 on the bench)
MAX_STEP = 9.0  # the second trial moves at most this many CRF steps from the first
# A title that needs more than the fixed ladder's rate for the target may take up to this much more: a 720p rung
# at 1.5x 2.8 Mb/s is still below the fixed 1080p rung, so it streams wherever the ladder does.
CAP_HEADROOM = 1.5
CHECK_DISTANCE = 2.0  # an estimate further than this from every trial is measured before it is used
MAX_CHECKS = 2  # at most this many such measurements (each a top-rung trial of the windows)
# The top rendition itself is scored on the windows after the ladder; further than this from the target, its rung
# is encoded again at a corrected CRF. Inside the target band's 1 point, as the check samples the windows too
# (every 3rd frame: ~0.3 of noise), but not so far inside that titles already in the band pay for a second encode
# of their top rung (half the ladder's CPU).
RENDITION_TOLERANCE = 0.85
MAX_CORRECTION = 3.0  # CRF steps the check may move the top rung
MAX_CHECK_GAP = 10.0  # VMAF between the rendition's check and the trials' estimate beyond which the check is suspect


@dataclass(frozen=True)
class Trial:
    """One measured trial encode of the sampled windows."""

    crf: float
    vmaf: float  # at the rung's own size, against the source scaled to that size
    kbps: float


@dataclass(frozen=True)
class RungEstimate:
    """What a rung costs and shows at the chosen CRF, measured on the sampled windows."""

    name: str
    kbps: float
    display_vmaf: float  # upscaled to the top rung's size: what a viewer on a big screen sees


def second_trial_crf(first: Trial, target_vmaf: float, ceiling_kbps: float) -> float:
    """The next CRF to probe: a typical-slope step from the first trial towards the target, at most MAX_STEP,
    and not past the CRF whose rate reaches `ceiling_kbps` (no rung may spend more, so no point measuring it)."""
    step = max(-MAX_STEP, min(MAX_STEP, (first.vmaf - target_vmaf) / TYPICAL_SLOPE))
    return refine_crf(_clamp(max(first.crf + step, crf_for_rate([first], ceiling_kbps))))


def top_crf(trials: Sequence[Trial], target_vmaf: float, fixed_maxrate_kbps: int) -> tuple[float, bool]:
    """(CRF of every rung, whether the top rung can reach the target under a streamable cap).

    When the target needs more than CAP_HEADROOM x the fixed ladder's maxrate (heavy grain or noise: tens of
    Mb/s), no cap that streams can deliver it: the caller then encodes the fixed ladder as it is, and the quality
    report says the target is missed. The CRF returned is then the one whose rate is the fixed maxrate (where the
    report's estimates are read from the trials).
    """
    crf = refine_crf(crf_for_target(trials, target_vmaf))
    if kbps_at(trials, crf) * 1.1 <= fixed_maxrate_kbps * CAP_HEADROOM:
        return crf, True
    return refine_crf(max(crf, crf_for_rate(trials, fixed_maxrate_kbps))), False


def needs_check(trials: Sequence[Trial], crf: float, *, aims_at_target: bool = True) -> bool:
    """Whether `crf` lies more than CHECK_DISTANCE steps from every measured CRF: beyond them, or inside a wide
    bracket when the CRF aims at the target (a line or parabola that far from its points misses: VMAF is flat near
    lossless and falls faster at high CRF; screen content read 93 at 35.5 from trials at 29 and 40, and the title
    scored 94.6 there). A capped title's CRF comes from its rate, which the cap bounds anyway: inside the
    bracket it is not worth a trial (on heavy grain, a 7.6 Mb/s one)."""
    crfs = [t.crf for t in trials]
    if not aims_at_target and min(crfs) <= crf <= max(crfs):
        return False
    return min(abs(c - crf) for c in crfs) > CHECK_DISTANCE


def crf_for_rate(trials: Sequence[Trial], kbps: float) -> float:
    """The CRF expected to give `kbps` (inverse of kbps_at), clamped to CRF_RANGE."""
    points = [(math.log(max(t.kbps, 1e-3)), t.crf) for t in trials]
    if len({r for r, _ in points}) == 1:
        r, c = points[0]
        return _clamp(c + (r - math.log(kbps)) * 6 / math.log(2))
    return _clamp(_interpolate(points, math.log(kbps)))


def crf_for_target(trials: Sequence[Trial], target_vmaf: float) -> float:
    """The CRF expected to give `target_vmaf`: linear between the two trials that bracket it (or the two nearest).

    VMAF falls as CRF rises; outside the measured range the nearest segment is extended, clamped to CRF_RANGE.
    """
    points = sorted({(t.crf, t.vmaf) for t in trials})
    if not points:
        raise ValueError("no trial encodes")
    if len(points) == 1:
        crf, vmaf = points[0]
        return _clamp(crf + (vmaf - target_vmaf) / 1.5)  # ~1.5 VMAF per CRF step near the usual targets
    low, high = points[0], points[-1]
    for a, b in zip(points, points[1:], strict=False):
        if min(a[1], b[1]) <= target_vmaf <= max(a[1], b[1]):
            low, high = a, b
            break
    else:
        nearest = sorted(points, key=lambda p: abs(p[1] - target_vmaf))[:2]
        low, high = sorted(nearest)
        if high[1] > low[1] + 1e-6:  # VMAF rising with CRF: two noisy trials of a short clip (a 6 s phone clip read
            # 93.80 at CRF 26 and 93.87 at 26.5); their line points away from the target. A typical-slope step instead.
            crf, vmaf = nearest[0]
            return _clamp(crf + (vmaf - target_vmaf) / TYPICAL_SLOPE)
    (c0, v0), (c1, v1) = low, high
    if math.isclose(v0, v1, abs_tol=1e-6):
        return _clamp(c1 if target_vmaf <= v1 else c0)
    bent = _quadratic_root(points, low, high, target_vmaf)
    return _clamp(bent if bent is not None else c0 + (target_vmaf - v0) * (c1 - c0) / (v1 - v0))


def _quadratic_root(points: Sequence[tuple[float, float]], low: tuple[float, float], high: tuple[float, float],
                    target_vmaf: float) -> float | None:
    """With a third trial, the parabola through the bracketing pair and the nearest other point, solved for the
    target inside the bracket: VMAF bends (flat near lossless, steeper at high CRF), and a straight line across a
    wide bracket misses by a point or more. None when there is no third point or no single root in the bracket."""
    others = [p for p in points if p not in (low, high)]
    if not others or low[1] == high[1] or not min(low[1], high[1]) <= target_vmaf <= max(low[1], high[1]):
        return None
    third = min(others, key=lambda p: min(abs(p[0] - low[0]), abs(p[0] - high[0])))
    (x0, y0), (x1, y1), (x2, y2) = low, high, third
    d01, d12 = (y1 - y0) / (x1 - x0), (y2 - y1) / (x2 - x1)
    a = (d12 - d01) / (x2 - x0)  # v(c) = y0 + d01 (c - x0) + a (c - x0)(c - x1)
    b, c = d01 - a * (x0 + x1), y0 - d01 * x0 + a * x0 * x1 - target_vmaf
    if abs(a) < 1e-9:
        return None
    disc = b * b - 4 * a * c
    if disc < 0:
        return None
    roots = [(-b + sign * math.sqrt(disc)) / (2 * a) for sign in (1, -1)]
    inside = [r for r in roots if x0 - 1e-9 <= r <= x1 + 1e-9]
    return inside[0] if len(inside) == 1 else None


def vmaf_at(trials: Sequence[Trial], crf: float) -> float:
    """VMAF expected at `crf`: linear between the nearest measured trials (extended beyond them), at most 100."""
    return min(100.0, _interpolate([(t.crf, t.vmaf) for t in trials], crf))


def kbps_at(trials: Sequence[Trial], crf: float) -> float:
    """Bitrate expected at `crf`: log-linear between the nearest trials (bits halve about every 6 CRF steps)."""
    points = [(t.crf, math.log(max(t.kbps, 1e-3))) for t in trials]
    if len({c for c, _ in points}) == 1:
        return math.exp(points[0][1] - (crf - points[0][0]) * math.log(2) / 6)
    return math.exp(_interpolate(points, crf))


def window_kbps(frames: Sequence[tuple[int, bool]], fps: float, keyint: int) -> float:
    """Bitrate of a rung from a trial's (bytes, keyframe) packets, as if keyframes came every `keyint` frames.

    The trial joins short windows, so it has a keyframe at its start and at every window cut: far more than the
    ladder (one per segment). Counting them at the trial's share would overstate the rate of short windows.
    """
    if not frames:
        raise ValueError("no frames in the trial encode")
    keys = [b for b, key in frames if key]
    others = [b for b, key in frames if not key]
    if not keys or not others:
        per_frame = sum(b for b, _ in frames) / len(frames)
    else:
        share = 1.0 / max(1, keyint)
        per_frame = share * sum(keys) / len(keys) + (1 - share) * sum(others) / len(others)
    return per_frame * 8 * fps / 1000


def refine_crf(crf: float) -> float:
    """x264 takes fractional CRF; half steps are enough (a CRF step is ~1-2 VMAF points)."""
    return round(crf * 2) / 2


def choose_rungs(estimates: Sequence[RungEstimate], *, min_vmaf_step: float = 2.0, min_saving: float = 0.2,
                 floor_kbps: float | None = None) -> list[str]:
    """Names of the rungs to keep, top first. `estimates` are ordered from the top rung down.

    `floor_kbps` (the fixed ladder's bottom rung's maxrate): when every rung kept by look and saving costs more,
    the bottom rung is kept as well, and capped there by the caller (`capped_rate(..., floor=True)`). Content whose
    smaller pictures cost as many bits at the same CRF (cellular animation scaled up with hard edges: 360p within
    15 % of 720p) otherwise kept a single 1.8 Mb/s rung, which a viewer on a 1 Mb/s link cannot play at all.
    """
    if not estimates:
        return []
    kept = [estimates[0]]
    for rung in estimates[1:]:
        last = kept[-1]
        looks_different = rung.display_vmaf <= last.display_vmaf - min_vmaf_step
        saves_bits = rung.kbps <= (1.0 - min_saving) * last.kbps
        if looks_different and saves_bits:
            kept.append(rung)
    bottom = estimates[-1]
    if floor_kbps is not None and kept[-1] is not bottom and kept[-1].kbps > floor_kbps:
        kept.append(bottom)
    return [r.name for r in kept]


def capped_rate(estimated_kbps: float, fixed_maxrate_kbps: int, *, floor: bool = False) -> int:
    """maxrate for a capped-CRF rung: room for the title's peaks, at most CAP_HEADROOM x the fixed ladder's (the
    fixed ladder's own for the bottom rung: the `floor` of the ladder streams wherever the fixed ladder's does)."""
    ceiling = fixed_maxrate_kbps * (1.0 if floor else CAP_HEADROOM)
    return max(100, math.ceil(min(ceiling, estimated_kbps * 2.5)))


def at_rate(estimate: RungEstimate, kbps: float, trials: Sequence[Trial], crf: float) -> RungEstimate:
    """A rung measured at `crf`, moved to `kbps`: its VMAF moves as the title's own top-rung curve moves over the
    same rate ratio (only the top rung was measured at several CRFs)."""
    moved_crf = crf_for_rate(trials, kbps_at(trials, crf) * kbps / max(estimate.kbps, 1e-3))
    shift = vmaf_at(trials, moved_crf) - vmaf_at(trials, crf)
    return RungEstimate(estimate.name, kbps, min(100.0, max(0.0, estimate.display_vmaf + shift)))


def under_cap(estimate: RungEstimate, cap_kbps: float, trials: Sequence[Trial], crf: float) -> RungEstimate:
    """What a rung shows when its cap binds: the trials measured it unconstrained at `crf`; under a cap below that
    rate x264's buffer raises the quantiser until the rate fits, so it shows what it would at the cap's rate.
    (The floor rung, capped at the fixed ladder's maxrate: reported from its unconstrained trial, it promised more
    than it shows.)"""
    if estimate.kbps <= cap_kbps:
        return estimate
    held = at_rate(estimate, cap_kbps, trials, crf)
    return RungEstimate(estimate.name, cap_kbps, min(estimate.display_vmaf, held.display_vmaf))


def pooled_vmaf(frames: Sequence[tuple[int, float]]) -> float:
    """Mean VMAF of a trial's scored (frame number, VMAF) pairs, without frame 0 when others were scored.

    VMAF's motion term is 0 on a clip's first frame (no previous picture), so on a moving title that frame scores
    several points low (high motion: 84.8 against ~93). A whole rendition has one such frame in hundreds; the
    joined windows, scored every few frames, have it as one sample in five, which read a moving title's trials
    1-2 points low and sent its ladder that much above the target.
    """
    if not frames:
        raise ValueError("no scored frames")
    rest = [v for n, v in frames if n != 0] or [v for _, v in frames]
    return sum(rest) / len(rest)


def corrected_crf(trials: Sequence[Trial], crf: float, measured_vmaf: float, target_vmaf: float) -> float:
    """The CRF for the target after the top rendition, encoded at `crf`, scored `measured_vmaf` on the windows.

    The trials' curve is shifted by what the rendition showed against it: the trials are short clips of the
    windows alone, and x264's rate control treats a clip's edges differently from the same frames inside the whole
    title (a key frame where the title has P-frames copying a refined picture; last frames with no future frames
    to reuse them), so a static title's trials read it about a point low. The curve's shape (how fast VMAF falls
    per CRF step) is the title's own; only its level moves.
    """
    bias = measured_vmaf - vmaf_at(trials, crf)
    corrected = crf_for_target(trials, target_vmaf - bias)
    if (corrected - crf) * (measured_vmaf - target_vmaf) <= 0:  # the trials' curve is not monotonic there (noisy
        # trials of a short clip) and points the wrong way: one typical-slope step the right way instead
        corrected = crf + (measured_vmaf - target_vmaf) / TYPICAL_SLOPE
    # At most MAX_CORRECTION steps: the edge effects move a title by a point or two; more says the curve is not
    # the title's there, and one bounded step is safer than a leap along it.
    return refine_crf(_clamp(min(crf + MAX_CORRECTION, max(crf - MAX_CORRECTION, corrected))))


def needs_reencode(measured_vmaf: float, target_vmaf: float, *, tolerance: float = RENDITION_TOLERANCE) -> bool:
    """Whether the top rendition is far enough from the target to be encoded again. (A capped title is never
    checked: a lower CRF would only meet the same cap.)"""
    return abs(measured_vmaf - target_vmaf) > tolerance


def plausible_check(measured_vmaf: float, estimated_vmaf: float) -> bool:
    """Whether the rendition's score can be the same title's as the trials': the edge effects move it a point or
    two; many more points means frames were paired with the wrong ones (then the trials' estimate stands)."""
    return abs(measured_vmaf - estimated_vmaf) <= MAX_CHECK_GAP


def misses_target(vmaf: float | None, target: float, *, tolerance: float = 1.0) -> bool:
    return vmaf is not None and vmaf < target - tolerance


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """y at x, linear on the segment of the two points nearest x (sorted by x), extended beyond the ends."""
    pts = sorted(dict(points).items())  # one y per x: the last measured
    if len(pts) == 1:
        return pts[0][1]
    i = min(range(len(pts) - 1), key=lambda k: 0 if pts[k][0] <= x <= pts[k + 1][0] else
            min(abs(x - pts[k][0]), abs(x - pts[k + 1][0])))
    (x0, y0), (x1, y1) = pts[i], pts[i + 1]
    return y0 + (x - x0) * (y1 - y0) / (x1 - x0)


def _clamp(crf: float) -> float:
    return min(CRF_RANGE[1], max(CRF_RANGE[0], crf))
