"""The analysis contract: analyzers consume one shared frame / audio stream, derivers consume their results.

Phase 1 (during the single decode): every `VideoAnalyzer` gets `on_frame(t, index, rgb)` for each decoded
frame (RGB uint8, scaled once to the analysis size) — or, when it defines `on_picture(t, index, picture)`, a
`vidpipe.analysis.picture.Picture` (luma straight from the decoder, RGB on demand: no per-frame colour
conversion when no analyzer needs colour) — and every `AudioAnalyzer` gets `on_audio(chunk)`. A video analyzer
that defines `on_pictures(batch)` (`BatchVideoAnalyzer`) gets the pass's batches of frames instead, in one
call each: the pass groups frames for its queue hand-offs anyway, so an analyzer that does numpy work per
frame can do it per batch without keeping a buffer of its own. Batch sizes vary (one frame at 1080p).
An analyzer may also define `start(ctx)`, called once before decoding starts (the context then knows
duration, sizes and channels). Then `finish(ctx)` returns an `AnalyzerOutput`. Phase 2: every
`Deriver` (embedders, classifiers) gets the whole `Analysis` (segments, scene key frames as arrays,
the 16 kHz mono track) and returns a `DeriverOutput`. Nobody here opens a file; the shell
(vidpipe.analysis.pipeline and the analyze stage) does the I/O and writes `FileOutput`s under the stage's work dir.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from vidpipe.analysis.picture import Picture
from vidpipe.contract import MachineTag, Segment, VectorRecord

ANALYSIS_RATE = 16_000  # mono float32 for VAD, ASR, onsets, fingerprints
LOUDNESS_RATE = 48_000  # original channels (mono, stereo or surround, LFE included) for EBU R128
# A batch of decoded frames in stream order, as the pass hands them over: (t seconds, frame index, picture).
PictureBatch = list[tuple[float, int, Picture]]


class AnalyzerUnavailable(Exception):  # noqa: N818 - a state, not a failure of the pass
    """Raised by a constructor when a dependency or a model is missing; the pass records why and goes on."""


@dataclass
class AudioChunk:
    """A contiguous piece of the audio track, decoded once and resampled twice from the same frames."""

    t: float  # seconds from the start of the track
    mono: np.ndarray  # float32, ANALYSIS_RATE, shape (n,)
    pcm: np.ndarray  # float32, LOUDNESS_RATE, shape (m, channels), in the order of AnalysisContext.channel_names


@dataclass
class FileOutput:
    """A file an analyzer produced in memory; the shell writes it to `{work_dir}/{key}` and publishes it."""

    key: str  # "analysis/scene-003.jpg"
    data: bytes
    kind: str  # artifact kind: scene_keyframe, oneshot, oneshot_pack, captions
    content_type: str


@dataclass
class AnalysisContext:
    """What analyzers and derivers know about the media. Set by the shell before phase 1."""

    duration: float
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int | None = None  # analysis frame size (after scaling), None without video
    height: int | None = None
    source_width: int | None = None
    source_height: int | None = None
    channels: int | None = None  # of AudioChunk.pcm
    channel_names: tuple[str, ...] = ()  # FFmpeg names of AudioChunk.pcm's channels: FL, FR, FC, LFE, BL, ...
    probe: dict[str, Any] | None = None
    # Filled in after phase 1, before any finish(): the whole mono track at ANALYSIS_RATE (or empty).
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    should_stop: Callable[[], bool] = lambda: False


@dataclass
class AnalyzerOutput:
    segments: list[Segment] = field(default_factory=list)
    fingerprints: dict[str, Any] = field(default_factory=dict)
    outputs: list[FileOutput] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # JSON; becomes StageResult.metadata[name]
    # In-memory results for derivers, not persisted: e.g. scenes -> {"keyframes": {key: rgb array}}.
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Analysis:
    """Everything phase 1 found; what a Deriver receives."""

    ctx: AnalysisContext
    results: dict[str, AnalyzerOutput]  # analyzer name -> output (only analyzers that ran)
    segments: list[Segment]  # all segments of all analyzers, sorted by start; derivers may append to .vectors
    keyframes: dict[str, np.ndarray]  # Segment.keyframe_key -> RGB uint8 array (analysis size)

    @property
    def audio(self) -> np.ndarray:
        """Mono float32 at ANALYSIS_RATE, the whole track (empty without audio)."""
        return self.ctx.audio

    def segments_of(self, kind: str) -> list[Segment]:
        return [s for s in self.segments if s.kind == kind]

    def audio_window(self, start: float, end: float) -> np.ndarray:
        a, b = int(max(0.0, start) * ANALYSIS_RATE), int(max(0.0, end) * ANALYSIS_RATE)
        return self.ctx.audio[a:b]


@dataclass
class DeriverOutput:
    vectors: list[VectorRecord] = field(default_factory=list)  # pooled, per asset
    machine_tags: list[MachineTag] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)  # new segments (may carry vectors)
    fingerprints: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VideoAnalyzer(Protocol):
    name: ClassVar[str]

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None: ...

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput: ...


@runtime_checkable
class BatchVideoAnalyzer(VideoAnalyzer, Protocol):
    """A VideoAnalyzer with the optional batch hook: the pass calls `on_pictures` (not on_frame/on_picture) with
    each batch, 1 to 16 frames; results must not depend on where the batches split the stream."""

    def on_pictures(self, batch: PictureBatch) -> None: ...


@runtime_checkable
class AudioAnalyzer(Protocol):
    name: ClassVar[str]

    def on_audio(self, chunk: AudioChunk) -> None: ...

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput: ...


@runtime_checkable
class Deriver(Protocol):
    name: ClassVar[str]

    def derive(self, analysis: Analysis) -> DeriverOutput: ...
