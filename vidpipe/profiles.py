"""Named processing profiles: which HLS ladder and thumbnail cadence an asset gets, chosen at ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vidpipe.errors import InputError


@dataclass(frozen=True)
class Rung:
    """One video rendition: the short side in pixels and its target bitrates."""

    height: int  # short side of the output (height for landscape, width for portrait)
    video_kbps: int
    audio_kbps: int = 128

    @property
    def name(self) -> str:
        return f"{self.height}p"


@dataclass(frozen=True)
class Profile:
    name: str
    ladder: tuple[Rung, ...]
    segment_seconds: float = 4.0
    sprite_interval_seconds: float = 10.0
    sprite_columns: int = 10
    sprite_rows: int = 10
    sprite_tile_width: int = 160
    audio_only_kbps: int = 128
    x264_preset: str = "veryfast"
    extra: dict[str, str] = field(default_factory=dict)
    # None: the analyze stage's default choice (VIDPIPE_ANALYZERS, else all) and the configured label set.
    analyzers: tuple[str, ...] | None = None
    zero_shot_labels: tuple[str, ...] | None = None
    # "per_title": each rung at the constant quality that reaches target_vmaf on sampled windows, capped at the
    # ladder's bitrate, rungs that add nothing dropped; "fixed": the ladder's bitrates as they are.
    ladder_mode: str = "fixed"
    target_vmaf: float = 93.0
    min_vmaf_step: float = 2.0  # a lower rung must look at least this much worse than the one above it
    # Per-analyzer options, e.g. {"scenes": {"detector": "hard", "threshold": 20}, "speech": {"engine": ...}}.
    analyzer_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Loudness-normalised audio renditions: every audio track measured (BS.1770) and brought to this integrated
    # loudness by one linear gain (e.g. -23 LUFS EBU R128 broadcast, -16 LUFS streaming/podcasts), peaks kept
    # under loudness_peak_dbtp by a limiter only when needed. None: the audio's own level.
    loudness_target_lufs: float | None = None
    loudness_peak_dbtp: float = -1.0
    # Long videos (vidpipe.stages.chunk_plan): "auto" chunks a video at least the threshold long; "never" keeps
    # every video one transcode job whatever its length (short-form clips, workers that each take whole titles).
    # The two numbers: None takes the configured ones (Settings.transcode); stored profiles set all three in the
    # console's profile editor or over PUT /v1/profiles/{name}.
    chunking: str = "auto"
    chunk_threshold_seconds: float | None = None
    chunk_seconds: float | None = None


LADDER_MODES = ("per_title", "fixed")
CHUNKING_MODES = ("auto", "never")
STANDARD_LADDER = (
    Rung(1080, 5000),
    Rung(720, 2800),
    Rung(480, 1400),
    Rung(360, 800, 96),
)

PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", STANDARD_LADDER, ladder_mode="per_title"),
    "mobile": Profile("mobile", (Rung(720, 2400), Rung(480, 1200), Rung(360, 700, 96), Rung(240, 400, 64))),
    # Cheap and quick: one small rung, dense scrub previews. Used by tests and previews.
    "preview": Profile("preview", (Rung(360, 700, 96),), segment_seconds=2.0, sprite_interval_seconds=2.0,
                       x264_preset="ultrafast"),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown processing profile {name!r}; choose one of {sorted(PROFILES)}",
                         code="unknown_profile") from None
