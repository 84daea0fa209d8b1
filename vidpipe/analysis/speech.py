"""Speech: voice activity (silero-vad, ONNX, model shipped in the package), then ASR per speech range,
speech segments with text and timestamps, and WebVTT captions.

A voice range can hold several sentences (speech over music is one long range), so the segments that
search returns are cut from the recogniser's word timestamps: a new segment at a pause between words
(>= `split_gap`) or when one grows past `max_segment_seconds`; each segment spans its first word's start to
its last word's end. Seeking to a search hit then lands on the sentence, not on the start of the range.
"""

from __future__ import annotations

from typing import ClassVar

from vidpipe.analysis.asr import Transcript, load_engine
from vidpipe.analysis.base import (
    ANALYSIS_RATE,
    AnalysisContext,
    AnalyzerOutput,
    AnalyzerUnavailable,
    AudioChunk,
    FileOutput,
)
from vidpipe.contract import Segment
from vidpipe.webvtt import vtt_timestamp


def captions_vtt(segments: list[Segment]) -> str:
    lines = ["WEBVTT", ""]
    for i, s in enumerate((s for s in segments if s.text), 1):
        lines += [str(i), f"{vtt_timestamp(s.start)} --> {vtt_timestamp(s.end)}", s.text or "", ""]
    return "\n".join(lines)


Word = tuple[str, float, float]  # (word, start s, end s)


def split_words(words: list[Word], *, gap: float = 0.45, max_seconds: float = 8.0) -> list[list[Word]]:
    """Group time-ordered words into sentence-like runs: break at pauses >= gap or before exceeding max_seconds."""
    runs: list[list[Word]] = []
    for w in sorted(words, key=lambda w: w[1]):
        if runs and w[1] - runs[-1][-1][2] < gap and w[2] - runs[-1][0][1] <= max_seconds:
            runs[-1].append(w)
        else:
            runs.append([w])
    return runs


def transcript_segments(texts: list[Transcript], offset: float, range_end: float, *, gap: float = 0.45,
                        max_seconds: float = 8.0) -> list[tuple[float, float, str, list[Word]]]:
    """(start, end, text, words) per sentence-like run, in media time; the recogniser's own segments when it
    gives no word times (then the whole range: start at `offset`, end at `range_end`)."""
    out: list[tuple[float, float, str, list[Word]]] = []
    for t in texts:
        words = [(w, offset + a, offset + b) for w, a, b in t.words if w]
        if not words:
            text = t.text.strip()
            if text:
                start = offset + t.start if t.end > t.start else offset
                end = offset + t.end if t.end > t.start else range_end
                out.append((start, end, text, []))
            continue
        for run in split_words(words, gap=gap, max_seconds=max_seconds):
            out.append((run[0][1], run[-1][2], " ".join(w for w, _, _ in run), run))
    return out


class SpeechAnalyzer:
    name: ClassVar[str] = "speech"

    def __init__(self, engine: str = "pocketsphinx", model: str | None = None, engine_options: dict | None = None,
                 vad_threshold: float = 0.5,
                 min_speech_ms: int = 250, min_silence_ms: int = 300, pad_ms: int = 100, split_gap: float = 0.45,
                 max_segment_seconds: float = 8.0) -> None:
        import torch
        from silero_vad import get_speech_timestamps, load_silero_vad

        try:
            self._engine = load_engine(engine, model, **(engine_options or {}))
        except ImportError as exc:
            raise AnalyzerUnavailable(f"ASR engine {engine!r}: {exc.name or exc} is not installed") from exc
        self._torch, self._timestamps = torch, get_speech_timestamps
        self._vad = load_silero_vad(onnx=True)
        self._split = {"gap": split_gap, "max_seconds": max_segment_seconds}
        self._vad_options = {"threshold": vad_threshold, "min_speech_duration_ms": min_speech_ms,
                             "min_silence_duration_ms": min_silence_ms, "speech_pad_ms": pad_ms}

    def on_audio(self, chunk: AudioChunk) -> None:
        return None  # VAD and ASR run on the whole mono track the pass keeps (ctx.audio)

    def voice_ranges(self, audio) -> list[tuple[float, float]]:
        if audio.size < ANALYSIS_RATE // 10:
            return []
        stamps = self._timestamps(self._torch.from_numpy(audio), self._vad, sampling_rate=ANALYSIS_RATE,
                                  **self._vad_options)
        return [(s["start"] / ANALYSIS_RATE, s["end"] / ANALYSIS_RATE) for s in stamps]

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        ranges = self.voice_ranges(ctx.audio)
        segments: list[Segment] = []
        for start, end in ranges:
            if ctx.should_stop():
                break
            piece = ctx.audio[int(start * ANALYSIS_RATE): int(end * ANALYSIS_RATE)]
            texts = self._engine.transcribe(piece)
            detail = {"engine": self._engine.name, "model": self._engine.model_id, "voice": [round(start, 3),
                                                                                           round(end, 3)]}
            language = getattr(self._engine, "last_language", None)  # engines that detect it have it
            if language:
                detail["language"] = language
            parts = transcript_segments(texts, start, end, **self._split)
            if not parts:  # voice without recognised words: keep the range (no text)
                segments.append(Segment(kind="speech", start=round(start, 3), end=round(end, 3), text=None,
                                        detail={**detail, "words": []}))
            for a, b, text, words in parts:
                segments.append(Segment(kind="speech", start=round(a, 3), end=round(max(b, a + 0.01), 3),
                                        text=text, detail={**detail, "words": [(w, round(x, 3), round(y, 3))
                                                                              for w, x, y in words]}))
        out = AnalyzerOutput(segments=segments, metrics={
            "engine": self._engine.name, "model": self._engine.model_id, "vad": "silero-vad (onnx)",
            "speech_seconds": round(sum(e - s for s, e in ranges), 3), "segments": len(segments)})
        if any(s.text for s in segments):
            out.outputs.append(FileOutput("analysis/captions.vtt", captions_vtt(segments).encode(), "captions",
                                          "text/vtt"))
        return out
