"""One decode per stream kind, each on a producer thread feeding a bounded queue.

Video: full decode (frame threads above SINGLE_THREAD_PIXELS), every frame brought ONCE to the analysis size
(its luma plane, display rotation applied; RGB converted only when an analyzer asks: vidpipe.analysis.picture)
on the producer thread, then handed to all video analyzers. Audio: one decode, two resamplers fed the same decoded
frames: 48 kHz float32 in the original layout (mono, stereo or the surround layout, for loudness and
one-shots) and 16 kHz mono (VAD, ASR, onsets, fingerprints). The queue is bounded, so slow analyzers apply
backpressure instead of filling memory.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.container
import numpy as np
from av.audio.resampler import AudioResampler
from av.video.reformatter import VideoReformatter

from vidpipe.analysis.base import ANALYSIS_RATE, LOUDNESS_RATE, AudioChunk
from vidpipe.analysis.picture import Picture
from vidpipe.errors import MediaDecodeError
from vidpipe.ffmpeg.avtypes import time_base

# (path, kind) -> an open container; kind is "video" or "audio". The default is vidpipe's safe open_input.
Opener = Callable[[Path, str], av.container.InputContainer]
_DONE = object()
# Up to this many pixels a frame is decoded on one thread: FFmpeg's frame threads cost 20-35 % more CPU on a
# 320x180 H.264 stream (measured: 600 frames 0.12 s vs 0.18 s) for a decode that is fast anyway; larger
# frames keep them, for the wall time of a single job.
SINGLE_THREAD_PIXELS = 640 * 360
# Decoded frames handed between threads in groups of up to 16, holding at most about this many source pixels
# (a 1080p frame goes alone; 320x180 frames go 16 at a time).
BATCH_PIXELS = 2_000_000


@dataclass
class DecodeStats:
    """What the decoders did: how often each kind was opened and how many frames/samples came out."""

    opens: dict[str, int] = field(default_factory=lambda: {"video": 0, "audio": 0})
    video_frames: int = 0
    rgb_frames: int = 0  # frames converted to RGB (only those an analyzer asked for)
    audio_samples: int = 0  # at ANALYSIS_RATE


# Layouts kept whole for loudness (BS.1770 weighs each channel); anything else is mixed down to stereo.
_KNOWN_LAYOUTS = {3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def loudness_layout(channels: int, layout_name: str | None = None) -> str:
    """The layout of the 48 kHz track: mono, stereo, or the source's own surround layout (channels named)."""
    if channels <= 1:
        return "mono"
    if channels == 2:
        return "stereo"
    for name in (layout_name, _KNOWN_LAYOUTS.get(channels)):
        if not name:
            continue
        try:
            layout = av.AudioLayout(name)
        except (ValueError, TypeError, av.error.FFmpegError):
            continue
        if len(layout.channels) == channels:
            return layout.name
    return "stereo"


def layout_channel_names(layout: str) -> tuple[str, ...]:
    return tuple(c.name for c in av.AudioLayout(layout).channels)


def analysis_size(width: int, height: int, sar: float = 1.0, short_side: int = 224) -> tuple[int, int]:
    """Scaled (width, height), display aspect kept, short side `short_side` (never upscaled), both even."""
    display_w = width * (sar or 1.0)
    scale = min(1.0, short_side / min(display_w, height))
    return max(2, round(display_w * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class _Producer:
    """Runs `produce(put)` on a daemon thread; iterate the consumer side. Errors re-raise in the consumer.

    Items travel in lists of up to `batch`: one queue hand-off (a lock and usually a thread switch) per item
    cost more than analysing a small frame, so small items go in groups."""

    def __init__(self, name: str, produce: Callable[[Callable[[Any], None]], None], maxsize: int,
                 batch: int = 1) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._produce = produce
        self._batch = max(1, batch)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _run(self) -> None:
        pending: list[Any] = []

        def put(item: Any) -> None:
            pending.append(item)
            if len(pending) >= self._batch:
                self._put(pending.copy())
                pending.clear()

        try:
            self._produce(put)
            if pending:
                self._put(pending)
            self._put(_DONE)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, which re-raises it
            with contextlib.suppress(_Stopped):
                self._put(exc)

    def batches(self) -> Iterator[list[Any]]:
        """The items in the groups they travelled in (consumers that work per group save a call per item)."""
        while True:
            try:
                item = self._q.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():  # stopped: the producer will not send _DONE
                    return
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def __iter__(self) -> Iterator[Any]:
        for batch in self.batches():
            yield from batch

    def stop(self) -> None:
        """Ask the producer to end and wait for it (it notices within 0.1 s of its next put)."""
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=10)


class _Stopped(Exception):  # noqa: N818
    pass


def _decode_error(exc: av.error.FFmpegError, what: str) -> MediaDecodeError:
    return MediaDecodeError(f"could not decode the {what}: {getattr(exc, 'strerror', None) or exc}")


class VideoFrames(_Producer):
    """Iterate `(t_seconds, frame_index, Picture)` from one full decode of a video stream.

    Two threads when frames must be scaled (`source_size` differs from the analysis size, or is unknown): one
    decodes (FFmpeg frame threads under it), one scales with swscale (which runs without the GIL), so decoding,
    scaling and the analyzers on the caller's thread overlap. Frames already at the analysis size need no
    scaling (their luma plane is used as it is), and a second hand-off per frame would only cost.
    `fast_decode` skips H.264/HEVC in-loop deblocking: invisible at analysis size, ~15-20 % less decode CPU.
    """

    def __init__(self, path: Path, opener: Opener, stats: DecodeStats, *, stream_index: int | None,
                 size: tuple[int, int], rotation: int = 0, maxsize: int = 8, interpolation: str = "FAST_BILINEAR",
                 fast_decode: bool = True, source_size: tuple[int, int] | None = None) -> None:
        self.size, self.rotation, self.interpolation = size, rotation, interpolation
        self._stats = stats
        # swscale gets the pre-rotation size; np.rot90 turns the small picture upright.
        self._scaled = (size[1], size[0]) if rotation in (90, 270) else size
        self._decoder: _Producer | None = None
        # A Picture keeps its decoded frame (for RGB on demand): batches hold about BATCH_PIXELS of them.
        batch = max(1, min(16, BATCH_PIXELS // max(1, (source_size[0] * source_size[1]) if source_size else 1 << 30)))
        if source_size is not None and tuple(source_size) == self._scaled:
            super().__init__("analysis-video-decode", lambda put: self._decode(
                path, opener, stats, stream_index, fast_decode, self._picture_put(put)), maxsize, batch)
            return
        self._decoder = _Producer("analysis-video-decode",
                                  lambda put: self._decode(path, opener, stats, stream_index, fast_decode, put), 4,
                                  batch)
        super().__init__("analysis-video-scale", self._scale_all, maxsize, batch)

    def start(self) -> None:
        if self._decoder is not None:
            self._decoder.start()
        super().start()

    def stop(self) -> None:
        self._stop.set()  # first the scaler, so it stops taking frames; then the decoder
        if self._decoder is not None:
            self._decoder.stop()
        super().stop()

    def _picture_put(self, put):
        """`put` for decoded frames that makes each a Picture (luma from the frame; RGB when an analyzer asks,
        with a reformatter of the consumer's thread: swscale contexts are not thread-safe)."""
        scaler, rgb_scaler = VideoReformatter(), VideoReformatter()
        w, h = self._scaled

        def reformat(frame, fmt: str, r: VideoReformatter = scaler):
            return r.reformat(frame, width=w, height=h, format=fmt, interpolation=self.interpolation)

        def rgb_reformat(frame, fmt: str):
            self._stats.rgb_frames += 1
            return reformat(frame, fmt, rgb_scaler)

        def picture_put(item) -> None:
            t, index, frame = item
            put((t, index, Picture.from_frame(frame, (w, h), self.rotation, reformat, rgb_reformat)))

        return picture_put

    def _scale_all(self, put) -> None:
        picture_put = self._picture_put(put)
        assert self._decoder is not None  # set before the scaling thread starts
        for item in self._decoder:
            picture_put(item)

    @staticmethod
    def _decode(path, opener, stats, stream_index, fast_decode, put) -> None:
        stats.opens["video"] += 1
        with opener(path, "video") as container:
            stream = container.streams[stream_index] if stream_index is not None else container.streams.video[0]
            ctx = stream.codec_context
            if ctx.width * ctx.height <= SINGLE_THREAD_PIXELS:
                ctx.thread_count = 1  # small frames: a decoder thread per core costs more CPU than it saves time
            else:
                stream.thread_type = "AUTO"
            if fast_decode:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            index = 0
            # frame_time's arithmetic, with the stream's constants taken once (Fraction math per frame was a
            # visible share of this thread's time on small videos)
            start, tick = stream.start_time or 0, float(time_base(stream))
            try:
                for packet in container.demux(stream):
                    for frame in packet.decode():
                        pts = frame.pts
                        put(((pts - start) * tick if pts is not None else 0.0, index, frame))
                        index += 1
                        stats.video_frames += 1
            except av.error.FFmpegError as exc:
                raise _decode_error(exc, "video") from exc


class AudioChunks(_Producer):
    """Iterate `AudioChunk`s (about `chunk_seconds` each) from one decode of an audio stream."""

    def __init__(self, path: Path, opener: Opener, stats: DecodeStats, *, stream_index: int | None,
                 channels: int, chunk_seconds: float = 1.0, maxsize: int = 16, layout: str | None = None) -> None:
        self.layout = layout or ("stereo" if channels == 2 else "mono")
        self.channels = len(av.AudioLayout(self.layout).channels)
        super().__init__("analysis-audio", lambda put: self._decode(path, opener, stats, stream_index,
                                                                    chunk_seconds, put), maxsize)

    def _decode(self, path, opener, stats, stream_index, chunk_seconds, put) -> None:
        stats.opens["audio"] += 1
        full = AudioResampler(format="flt", layout=self.layout, rate=LOUDNESS_RATE)
        mono = AudioResampler(format="flt", layout="mono", rate=ANALYSIS_RATE)
        pend_pcm: list[np.ndarray] = []  # 48 kHz, not yet emitted
        pending = 0  # 48 kHz samples in pend_pcm
        emitted = 0  # 16 kHz samples emitted
        target = int(chunk_seconds * LOUDNESS_RATE)

        def take(frame) -> None:
            nonlocal pending
            if (frame is not None and frame.sample_rate == LOUDNESS_RATE and frame.layout.name == self.layout
                    and frame.format.name in ("fltp", "flt")):
                # Already 48 kHz float in our layout (AAC, Opus...): the samples as they are. A resampler call
                # per decoded frame (~1000 samples) cost more than the decode itself.
                a = frame.to_ndarray()
                outs = [a.T if frame.format.is_planar else a.reshape(-1, self.channels)]
            else:
                outs = [f.to_ndarray().reshape(-1, self.channels) for f in full.resample(frame)]
            for pcm in outs:
                pend_pcm.append(pcm)
                pending += pcm.shape[0]

        def to_mono(pcm: np.ndarray, final: bool) -> np.ndarray:
            """16 kHz mono of a chunk's 48 kHz audio: one resampler call per chunk, state carried across chunks."""
            frames = []
            if pcm.shape[0]:
                f = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm, np.float32).reshape(1, -1), format="flt",
                                               layout=self.layout)
                f.sample_rate = LOUDNESS_RATE
                frames += mono.resample(f)
            if final:
                frames += mono.resample(None)
            parts = [g.to_ndarray().reshape(-1) for g in frames]
            return np.concatenate(parts) if parts else np.zeros(0, np.float32)

        def emit(final: bool = False) -> None:
            nonlocal pending, emitted
            p = np.concatenate(pend_pcm) if pend_pcm else np.zeros((0, self.channels), np.float32)
            pend_pcm.clear()
            m = to_mono(p, final)
            if final and not (p.size or m.size):
                return
            put(AudioChunk(t=emitted / ANALYSIS_RATE, mono=m, pcm=p))
            emitted += m.size
            stats.audio_samples += m.size
            pending = 0

        with opener(path, "audio") as container:
            stream = container.streams[stream_index] if stream_index is not None else container.streams.audio[0]
            stream.thread_type = "AUTO"
            try:
                for packet in container.demux(stream):
                    for frame in packet.decode():
                        take(frame)
                        if pending >= target:
                            emit()
                take(None)
            except av.error.FFmpegError as exc:
                raise _decode_error(exc, "audio") from exc
            emit(final=True)
