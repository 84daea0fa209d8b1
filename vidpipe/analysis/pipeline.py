"""The analysis pass: one video decode and one audio decode fan out to every analyzer, then derivers run.

Threads: the video producer (decode + swscale), the audio producer (decode + two resamplers), an
audio consumer running the audio analyzers, and the caller's thread running the video analyzers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from vidpipe.analysis.base import (
    Analysis,
    AnalysisContext,
    AnalyzerOutput,
    AudioAnalyzer,
    BatchVideoAnalyzer,
    DeriverOutput,
    FileOutput,
    PictureBatch,
    VideoAnalyzer,
)
from vidpipe.analysis.decode import (
    AudioChunks,
    DecodeStats,
    Opener,
    VideoFrames,
    analysis_size,
    layout_channel_names,
    loudness_layout,
)
from vidpipe.analysis.registry import Selection
from vidpipe.contract import UnderstandingResult
from vidpipe.errors import JobCancelledError
from vidpipe.ffmpeg.safe_open import open_input

log = logging.getLogger(__name__)
ANALYSIS_SHORT_SIDE = 224
_A = TypeVar("_A", VideoAnalyzer, AudioAnalyzer)


@dataclass
class PassResult:
    understanding: UnderstandingResult
    outputs: list[FileOutput]
    metrics: dict[str, Any]  # analyzer/deriver name -> its metrics
    timings: dict[str, float]  # CPU seconds of each analyzer/deriver (callbacks + finish); "decode_wall": phase 1 wall
    stats: DecodeStats
    analysis: Analysis
    derived: dict[str, DeriverOutput] = field(default_factory=dict)


def default_opener(max_frame_pixels: int | None) -> Opener:
    return lambda path, kind: open_input(path, max_frame_pixels=max_frame_pixels)


def _first(probe: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((s for s in probe["streams"] if s["type"] == kind and not s.get("cover_art")), None)


class _Timed:
    """Per-analyzer time accounting; an analyzer that raises is dropped and reported, the rest go on."""

    def __init__(self, status: dict[str, str]) -> None:
        self.status = status
        self.seconds: dict[str, float] = {}
        self.lock = threading.Lock()

    def call(self, obj: Any, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        start = time.thread_time()  # CPU of this thread: waiting for the GIL or a core is not the analyzer's cost
        try:
            return True, fn(*args)
        except JobCancelledError:
            raise
        except Exception as exc:
            log.warning("analysis.analyzer_failed", extra={"analyzer": obj.name, "error": repr(exc)})
            self.status[obj.name] = f"failed: {type(exc).__name__}: {exc}"
            return False, None
        finally:
            with self.lock:
                self.seconds[obj.name] = self.seconds.get(obj.name, 0.0) + time.thread_time() - start


def _start(analyzers: list[_A], timed: _Timed, ctx: AnalysisContext) -> None:
    """Call each analyzer's optional start(ctx); one that raises is dropped from `analyzers`."""
    for a in list(analyzers):
        if hasattr(a, "start"):
            ok, _ = timed.call(a, a.start, ctx)
            if not ok:
                analyzers.remove(a)


def _pictures_handler(a: VideoAnalyzer) -> Callable[[PictureBatch], None]:
    """A call that feeds a batch of (t, index, Picture) to the analyzer: on_pictures takes it whole; otherwise frame
    by frame, on_picture gets the luma without a colour conversion, on_frame gets RGB (converted once per frame,
    shared by such analyzers)."""
    if isinstance(a, BatchVideoAnalyzer):
        return a.on_pictures
    if hasattr(a, "on_picture"):
        on_picture = a.on_picture

        def pictures(batch: PictureBatch) -> None:
            for t, index, picture in batch:
                on_picture(t, index, picture)
        return pictures

    def frames(batch: PictureBatch) -> None:
        for t, index, picture in batch:
            a.on_frame(t, index, picture.rgb())
    return frames


def run_pass(path: Path, probe: dict[str, Any], selection: Selection, *, opener: Opener | None = None,
             max_frame_pixels: int | None = None, short_side: int = ANALYSIS_SHORT_SIDE,
             should_stop: Callable[[], bool] = lambda: False,
             progress: Callable[[float], None] = lambda f: None, fast_decode: bool = True) -> PassResult:
    """Decode `path` once per stream kind, feed the selected analyzers, then run the derivers."""
    opener = opener or default_opener(max_frame_pixels)
    video_info, audio_info = _first(probe, "video"), _first(probe, "audio")
    duration = float(probe.get("duration") or 0.0)
    ctx = AnalysisContext(duration=duration, has_video=video_info is not None, has_audio=audio_info is not None,
                          probe=probe, should_stop=should_stop)
    stats = DecodeStats()
    timed = _Timed(selection.status)
    video_analyzers = list(selection.video) if video_info else []
    audio_analyzers = list(selection.audio) if audio_info else []

    video = audio = None
    if video_info and video_analyzers:
        rotation = int(probe.get("rotation") or 0)
        w, h = video_info["width"], video_info["height"]
        size = analysis_size(*((h, w) if rotation in (90, 270) else (w, h)), short_side=short_side)
        ctx.width, ctx.height, ctx.source_width, ctx.source_height = size[0], size[1], w, h
        ctx.fps = video_info.get("fps")
        video = VideoFrames(path, opener, stats, stream_index=video_info["index"], size=size, rotation=rotation,
                            fast_decode=fast_decode, source_size=(w, h))
    # Derivers may want the audio track (e.g. audio embeddings) even when no audio analyzer runs.
    if audio_info and (audio_analyzers or selection.derivers):
        layout = loudness_layout(int(audio_info.get("channels") or 1), audio_info.get("channel_layout"))
        ctx.channel_names = layout_channel_names(layout)
        ctx.channels = len(ctx.channel_names)
        audio = AudioChunks(path, opener, stats, stream_index=audio_info["index"], channels=ctx.channels,
                            layout=layout)

    _start(video_analyzers, timed, ctx)
    _start(audio_analyzers, timed, ctx)

    mono: list[np.ndarray] = []
    audio_error: list[BaseException] = []
    audio_pos = [0.0]

    def consume_audio(chunks: AudioChunks) -> None:
        try:
            for chunk in chunks:
                mono.append(chunk.mono)
                audio_pos[0] = chunk.t
                for a in list(audio_analyzers):
                    ok, _ = timed.call(a, a.on_audio, chunk)
                    if not ok:
                        audio_analyzers.remove(a)
                if should_stop():
                    return
        except BaseException as exc:
            audio_error.append(exc)

    started = time.perf_counter()
    audio_thread = None
    try:
        if audio is not None:
            audio.start()
            audio_thread = threading.Thread(target=consume_audio, args=(audio,), name="analysis-audio-consumer",
                                            daemon=True)
            audio_thread.start()
        if video is not None:
            video.start()
            handlers = [(a, _pictures_handler(a)) for a in video_analyzers]
            for batch in video.batches():  # up to 16 small frames at a time: one call per analyzer per batch
                if should_stop():
                    raise JobCancelledError("analysis stopped on request")
                for a, handle in list(handlers):
                    ok, _ = timed.call(a, handle, batch)
                    if not ok:
                        handlers.remove((a, handle))
                        video_analyzers.remove(a)
                if duration > 0:
                    progress(0.8 * min(1.0, batch[-1][0] / duration))
        while audio_thread is not None and audio_thread.is_alive():
            audio_thread.join(timeout=0.2)
            if should_stop():
                raise JobCancelledError("analysis stopped on request")
            if video is None and duration > 0:
                progress(0.8 * min(1.0, audio_pos[0] / duration))
        if audio_error:
            raise audio_error[0]
        if should_stop():
            raise JobCancelledError("analysis stopped on request")
    finally:
        for producer in (video, audio):
            if producer is not None:
                producer.stop()
    decode_wall = time.perf_counter() - started

    ctx.audio = np.concatenate(mono) if mono else np.zeros(0, np.float32)
    results: dict[str, AnalyzerOutput] = {}
    finishers: list[VideoAnalyzer | AudioAnalyzer] = [*video_analyzers, *audio_analyzers]
    for finisher in finishers:
        if should_stop():
            raise JobCancelledError("analysis stopped on request")
        ok, out = timed.call(finisher, finisher.finish, ctx)
        if ok:
            results[finisher.name] = out
    progress(0.9)

    segments = sorted((s for out in results.values() for s in out.segments), key=lambda s: (s.start, s.kind))
    keyframes = {k: v for out in results.values() for k, v in out.data.get("keyframes", {}).items()}
    analysis = Analysis(ctx=ctx, results=results, segments=segments, keyframes=keyframes)

    derived: dict[str, DeriverOutput] = {}
    for d in selection.derivers:
        if should_stop():
            raise JobCancelledError("analysis stopped on request")
        ok, out = timed.call(d, d.derive, analysis)
        if ok:
            derived[d.name] = out
    progress(1.0)
    return _assemble(analysis, derived, selection.status, timed.seconds, stats, decode_wall)


def _assemble(analysis: Analysis, derived: dict[str, DeriverOutput], status: dict[str, str],
              seconds: dict[str, float], stats: DecodeStats, decode_wall: float) -> PassResult:
    und = UnderstandingResult(segments=list(analysis.segments), analyzers=dict(status))
    outputs: list[FileOutput] = []
    metrics: dict[str, Any] = {}
    for name, out in analysis.results.items():
        und.fingerprints.update(out.fingerprints)
        outputs.extend(out.outputs)
        if out.metrics:
            metrics[name] = out.metrics
    for name, dout in derived.items():
        und.segments.extend(dout.segments)
        und.vectors.extend(dout.vectors)
        und.machine_tags.extend(dout.machine_tags)
        und.fingerprints.update(dout.fingerprints)
        if dout.metrics:
            metrics[name] = dout.metrics
    und.segments.sort(key=lambda s: (s.start, s.kind))
    timings = {k: round(v, 3) for k, v in seconds.items()}
    timings["decode_wall"] = round(decode_wall, 3)
    return PassResult(understanding=und, outputs=outputs, metrics=metrics, timings=timings, stats=stats,
                      analysis=analysis, derived=derived)
