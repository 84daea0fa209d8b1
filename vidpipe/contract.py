"""What a stage is: a pure-ish function from a StageInput to a StageResult.

The shell around stages (vidpipe.jobs.runner) fetches the source, makes a private work dir,
publishes the outputs to the media store under `{asset_id}/...` and writes database rows,
replacing whatever an earlier run of the same stage wrote (stages are idempotent).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidpipe.profiles import Profile
from vidpipe.settings import Limits, Settings


def _ignore_progress(fraction: float) -> None:  # pragma: no cover - trivial
    return None


@dataclass
class StageInput:
    asset_id: uuid.UUID
    source_path: Path  # a local, readable copy of the original
    work_dir: Path  # empty private directory for this attempt; removed afterwards
    profile: Profile
    limits: Limits
    probe: dict[str, Any] | None = None  # ProbeResult.to_dict() of the probe stage, for later stages
    progress: Callable[[float], None] = _ignore_progress  # 0.0 .. 1.0
    should_stop: Callable[[], bool] = lambda: False  # cancellation / shutdown request
    title: str = ""  # the asset's own words, for stages that embed them
    description: str = ""
    settings: Settings | None = None  # configuration flows down; stages never read the environment
    payload: dict[str, Any] = field(default_factory=dict)  # the job's own (a chunk job: which frames, what plan)
    # Publish some outputs now, before the stage ends (its StageSpec.on_partial hook sees them); None: not offered.
    publish: Callable[[StageResult], None] | None = None


@dataclass
class Output:
    """A file in work_dir to publish at `{asset_id}/{key}`."""

    key: str  # e.g. "hls/master.m3u8", "thumbs/poster.jpg"
    path: Path
    kind: str  # artifact kind: hls_master, hls_playlist, hls_segment, poster, sprite, sprite_vtt, waveform
    content_type: str


@dataclass
class RenditionInfo:
    name: str  # "720p", "audio_en", "audio"
    kind: str  # "video" | "audio"
    playlist_key: str  # "hls/720p/index.m3u8"
    width: int | None = None
    height: int | None = None
    bandwidth: int | None = None  # bits/s as in the master playlist
    codecs: str | None = None  # "avc1.64001f,mp4a.40.2"
    language: str | None = None
    quality: dict[str, Any] | None = None  # sampled VMAF (and the per-title target) of a video rung


@dataclass
class StageResult:
    outputs: list[Output] = field(default_factory=list)
    renditions: list[RenditionInfo] = field(default_factory=list)
    # Stage-specific values kept with the asset (probe: the full probe dict).
    metadata: dict[str, Any] = field(default_factory=dict)
    understanding: UnderstandingResult | None = None


# --- what the understanding stages produce (analysis and embeddings) -------------------------------------
@dataclass
class VectorRecord:
    """One embedding. `model`/`model_version`/`dim` travel with every vector so a model change re-embeds."""

    modality: str  # visual | audio | text
    model: str  # e.g. "openai/clip-vit-base-patch32"
    model_version: str  # weights revision or a hash of the local files
    values: list[float]

    @property
    def dim(self) -> int:
        return len(self.values)


@dataclass
class Segment:
    """A time range of an asset: a scene, a speech segment, a one-shot, a silence or black stretch."""

    kind: str  # scene | speech | oneshot | silence | black
    start: float  # seconds
    end: float
    text: str | None = None  # transcript of a speech segment
    score: float | None = None
    keyframe_key: str | None = None  # key of an Output of the same stage (e.g. "analysis/scene-003.jpg")
    detail: dict[str, Any] = field(default_factory=dict)
    vectors: list[VectorRecord] = field(default_factory=list)


@dataclass
class MachineTag:
    """A label a model gave the asset, kept apart from the user's own tags."""

    label: str
    score: float
    model: str
    model_version: str


@dataclass
class UnderstandingResult:
    """Extra outputs a stage may add to its StageResult (set as StageResult.understanding)."""

    segments: list[Segment] = field(default_factory=list)
    vectors: list[VectorRecord] = field(default_factory=list)  # pooled, per asset
    machine_tags: list[MachineTag] = field(default_factory=list)
    fingerprints: dict[str, Any] = field(default_factory=dict)  # kind -> JSON value (phash list, audio fp)
    analyzers: dict[str, str] = field(default_factory=dict)  # analyzer -> "ok" | "unavailable: <why>"
