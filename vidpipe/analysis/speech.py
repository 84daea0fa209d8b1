"""Speech: voice activity (silero-vad, ONNX, model shipped in the package), then ASR per speech range,
speech segments with text and timestamps, and WebVTT captions."""

from __future__ import annotations

from typing import ClassVar

from vidpipe.analysis.asr import load_engine
from vidpipe.analysis.base import (
    ANALYSIS_RATE,
    AnalysisContext,
    AnalyzerOutput,
    AnalyzerUnavailable,
    AudioChunk,
    FileOutput,
)
from vidpipe.stages.base import Segment


def vtt_timestamp(seconds: float) -> str:
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def captions_vtt(segments: list[Segment]) -> str:
    lines = ["WEBVTT", ""]
    for i, s in enumerate((s for s in segments if s.text), 1):
        lines += [str(i), f"{vtt_timestamp(s.start)} --> {vtt_timestamp(s.end)}", s.text or "", ""]
    return "\n".join(lines)


class SpeechAnalyzer:
    name: ClassVar[str] = "speech"

    def __init__(self, engine: str = "pocketsphinx", model: str | None = None, vad_threshold: float = 0.5,
                 min_speech_ms: int = 250, min_silence_ms: int = 300, pad_ms: int = 100) -> None:
        import torch
        from silero_vad import get_speech_timestamps, load_silero_vad

        try:
            self._engine = load_engine(engine, model)
        except ImportError as exc:
            raise AnalyzerUnavailable(f"ASR engine {engine!r}: {exc.name or exc} is not installed") from exc
        self._torch, self._timestamps = torch, get_speech_timestamps
        self._vad = load_silero_vad(onnx=True)
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
            text = " ".join(t.text for t in texts).strip() or None
            words = [(w, round(start + a, 3), round(start + b, 3)) for t in texts for w, a, b in t.words]
            segments.append(Segment(kind="speech", start=round(start, 3), end=round(end, 3), text=text,
                                    detail={"engine": self._engine.name, "model": self._engine.model_id,
                                            "words": words}))
        out = AnalyzerOutput(segments=segments, metrics={
            "engine": self._engine.name, "model": self._engine.model_id, "vad": "silero-vad (onnx)",
            "speech_seconds": round(sum(e - s for s, e in ranges), 3), "segments": len(segments)})
        if any(s.text for s in segments):
            out.outputs.append(FileOutput("analysis/captions.vtt", captions_vtt(segments).encode(), "captions",
                                          "text/vtt"))
        return out
