"""One-shots: short sound clips cut at onsets and silences, trimmed and peak-normalized (a sample pack).

Streaming over the 48 kHz track (original channels): level per 10 ms hop of the channel mix; an
onset is a rise of `rise_db` over the quietest of the previous 50 ms above `floor_db`; a one-shot
ends at the next onset, when the level stays `tail_db` below its peak or under `floor_db` for 30 ms,
or after `max_seconds`. Only the audio of the open one-shot (plus a short pre-roll) is buffered.
"""

from __future__ import annotations

import io
import wave
import zipfile
from collections import deque
from typing import ClassVar

import numpy as np

from vidpipe.analysis.base import LOUDNESS_RATE, AnalysisContext, AnalyzerOutput, AudioChunk, FileOutput
from vidpipe.contract import Segment

HOP = LOUDNESS_RATE // 100  # 10 ms
PREROLL = HOP  # keep 10 ms before the onset


def trim_and_normalize(clip: np.ndarray, *, floor_db: float = -50.0, peak: float = 0.891) -> np.ndarray:
    """Drop leading/trailing samples `floor_db` under the clip's peak, fade the last 5 ms, peak-normalize."""
    level = np.abs(clip).max(axis=1)
    top = float(level.max()) if level.size else 0.0
    if top <= 0:
        return clip[:0]
    loud = np.flatnonzero(level >= top * 10 ** (floor_db / 20))
    clip = clip[loud[0]: loud[-1] + 1].astype(np.float32)
    fade = min(clip.shape[0], LOUDNESS_RATE // 200)
    clip[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return clip * (peak / top)


def wav_bytes(clip: np.ndarray, rate: int = LOUDNESS_RATE) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(clip.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(clip, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


class OneShotAnalyzer:
    name: ClassVar[str] = "oneshots"

    def __init__(self, rise_db: float = 12.0, floor_db: float = -45.0, tail_db: float = 40.0,
                 min_seconds: float = 0.05, max_seconds: float = 2.0, max_count: int = 200) -> None:
        self.rise_db, self.floor_db, self.tail_db = rise_db, floor_db, tail_db
        self.min_seconds, self.max_seconds, self.max_count = min_seconds, max_seconds, max_count
        self._rest = np.zeros((0, 1), np.float32)
        self._hop_index = 0  # hops seen so far
        self._recent: deque[float] = deque(maxlen=5)
        self._buf: deque[tuple[int, np.ndarray]] = deque()  # (first sample, pcm) of buffered audio
        self._received = 0  # samples received so far
        self._start: int | None = None  # sample where the open one-shot starts
        self._peak_db = -120.0
        self._quiet = 0
        self._last_onset = -(10**9)
        self._clips: list[tuple[float, float, np.ndarray]] = []
        self._found = 0

    def on_audio(self, chunk: AudioChunk) -> None:
        pcm = chunk.pcm
        if pcm.size == 0:
            return
        if self._rest.shape[1] != pcm.shape[1]:
            self._rest = np.zeros((0, pcm.shape[1]), np.float32)
        self._buf.append((self._received, pcm))
        self._received += pcm.shape[0]
        x = np.concatenate([self._rest, pcm])
        n = x.shape[0] // HOP
        self._rest = x[n * HOP:]
        if n:
            # the channel mix as a matrix-vector product: numpy's mean over a 2-wide last axis costs ~10x this
            mix = (x[: n * HOP] @ np.full(x.shape[1], 1.0 / x.shape[1], np.float32)).astype(np.float64).reshape(n, HOP)
            levels = 10 * np.log10(np.maximum((mix * mix).mean(axis=1), 1e-12))
            self._steps(levels)
        self._prune()

    def _steps(self, levels: np.ndarray) -> None:
        """`_step` over a chunk's hop levels; the stretches where nothing can happen (no open one-shot, no hop
        loud enough over its quietest predecessor to be an onset) advance in one go instead of hop by hop."""
        history = np.array(self._recent, np.float64)
        padded = np.concatenate([np.full(5 - history.size, np.inf), history, levels])
        quietest = np.lib.stride_tricks.sliding_window_view(padded, 5)[: levels.size].min(axis=1)
        quietest[np.isinf(quietest)] = -120.0  # no history yet (the first hops of the file)
        maybe = np.flatnonzero((levels >= self.floor_db) & (levels - quietest >= self.rise_db))
        i = 0
        while i < levels.size:
            if self._start is None:  # jump to the next hop that could be an onset
                k = int(np.searchsorted(maybe, i))
                nxt = int(maybe[k]) if k < maybe.size else levels.size
                if nxt > i:
                    self._recent.extend(levels[max(i, nxt - 5): nxt].tolist())
                    self._hop_index += nxt - i
                    i = nxt
                    continue
            self._step(float(levels[i]))
            i += 1

    def _step(self, level: float) -> None:
        pos = self._hop_index * HOP
        quietest = min(self._recent) if self._recent else -120.0
        onset = (level >= self.floor_db and level - quietest >= self.rise_db
                 and pos - self._last_onset >= 0.08 * LOUDNESS_RATE)
        if self._start is not None:
            if onset:
                self._close(pos)
            else:
                self._peak_db = max(self._peak_db, level)
                quiet = level < self.floor_db - 5 or level < self._peak_db - self.tail_db
                self._quiet = self._quiet + 1 if quiet else 0
                if self._quiet >= 3:
                    self._close(pos - 2 * HOP)
                elif pos - self._start >= self.max_seconds * LOUDNESS_RATE:
                    self._close(pos)
        if onset:
            self._start, self._peak_db, self._quiet, self._last_onset = max(0, pos - PREROLL), level, 0, pos
        self._recent.append(level)
        self._hop_index += 1

    def _slice(self, start: int, end: int) -> np.ndarray:
        parts = [p[max(0, start - s): max(0, end - s)] for s, p in self._buf if s < end and s + p.shape[0] > start]
        return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)

    def _close(self, end: int) -> None:
        start, self._start = self._start, None
        if start is None or end - start < self.min_seconds * LOUDNESS_RATE:
            return
        self._found += 1
        if len(self._clips) < self.max_count:
            clip = trim_and_normalize(self._slice(start, end))
            if clip.shape[0] >= self.min_seconds * LOUDNESS_RATE / 2:
                self._clips.append((start / LOUDNESS_RATE, end / LOUDNESS_RATE, clip))

    def _prune(self) -> None:
        keep_from = self._start if self._start is not None else self._hop_index * HOP - PREROLL - HOP
        while self._buf and self._buf[0][0] + self._buf[0][1].shape[0] < keep_from:
            self._buf.popleft()

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        if self._start is not None:
            self._close(self._hop_index * HOP)
        out = AnalyzerOutput()
        pack = io.BytesIO()
        # Stored, not deflated: PCM hardly compresses, and deflating it cost more than finding the one-shots.
        with zipfile.ZipFile(pack, "w", zipfile.ZIP_STORED) as zf:
            for i, (start, end, clip) in enumerate(self._clips, 1):
                name = f"oneshot-{i:03d}.wav"
                data = wav_bytes(clip)
                zf.writestr(name, data)
                key = f"analysis/oneshots/{name}"
                out.outputs.append(FileOutput(key, data, "oneshot", "audio/wav"))
                out.segments.append(Segment(kind="oneshot", start=round(start, 3), end=round(end, 3),
                                            detail={"key": key, "seconds": round(clip.shape[0] / LOUDNESS_RATE, 3)}))
        if self._clips:
            out.outputs.append(FileOutput("analysis/oneshots.zip", pack.getvalue(), "oneshot_pack", "application/zip"))
        out.metrics = {"oneshots": len(self._clips), "found": self._found}
        return out
