"""Per-title ladder decisions: what quality a title needs at each rung, and which rungs are worth keeping.

Pure core. The shell (vidpipe.ffmpeg.vmaf and the transcode stage) encodes a few sampled windows of the source at
trial CRF values and measures VMAF; these functions turn those measurements into a ladder:

- `crf_for_target`: the CRF that reaches the target VMAF, interpolated between measured (CRF, VMAF) points;
- `choose_rungs`: keep the top rung, then a lower rung only when it is at least `min_vmaf_step` below the last
  kept one (shown at the top rung's size) *and* saves bits — a rung that looks the same or costs the same adds
  nothing to the ladder;
- `capped_rate`: the rung's bitrate cap (maxrate), never above the fixed ladder's, so every rung stays streamable.

Rungs are never above the source's size: that is `hls.plan_ladder`'s job and happens before this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CRF_RANGE = (14.0, 40.0)
TRIAL_CRFS = (22.0, 32.0)


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
    (c0, v0), (c1, v1) = low, high
    if math.isclose(v0, v1, abs_tol=1e-6):
        return _clamp(c1 if target_vmaf <= v1 else c0)
    return _clamp(c0 + (target_vmaf - v0) * (c1 - c0) / (v1 - v0))


def refine_crf(crf: float) -> float:
    """x264 takes fractional CRF; half steps are enough (a CRF step is ~1-2 VMAF points)."""
    return round(crf * 2) / 2


def choose_rungs(estimates: Sequence[RungEstimate], *, min_vmaf_step: float = 2.0,
                 min_saving: float = 0.2) -> list[str]:
    """Names of the rungs to keep, top first. `estimates` are ordered from the top rung down."""
    if not estimates:
        return []
    kept = [estimates[0]]
    for rung in estimates[1:]:
        last = kept[-1]
        looks_different = rung.display_vmaf <= last.display_vmaf - min_vmaf_step
        saves_bits = rung.kbps <= (1.0 - min_saving) * last.kbps
        if looks_different and saves_bits:
            kept.append(rung)
    return [r.name for r in kept]


def capped_rate(estimated_kbps: float, fixed_maxrate_kbps: int) -> int:
    """maxrate for a capped-CRF rung: room for the title's peaks, never more than the fixed ladder allows."""
    return max(100, min(fixed_maxrate_kbps, math.ceil(estimated_kbps * 2.5)))


def misses_target(vmaf: float | None, target: float, *, tolerance: float = 1.0) -> bool:
    return vmaf is not None and vmaf < target - tolerance


def _clamp(crf: float) -> float:
    return min(CRF_RANGE[1], max(CRF_RANGE[0], crf))
