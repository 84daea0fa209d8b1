"""Speech recognition engines by name. `pocketsphinx` (ships an en-us model, offline) is the default;
`faster-whisper` (the `asr` extra) is imported only when chosen, with a model id or a local path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from vidpipe.analysis.base import ANALYSIS_RATE, AnalyzerUnavailable


@dataclass
class Transcript:
    text: str
    start: float  # seconds from the start of the audio given to transcribe()
    end: float
    words: list[tuple[str, float, float]] = field(default_factory=list)


class AsrEngine(Protocol):
    name: ClassVar[str]
    model_id: str

    def transcribe(self, audio: np.ndarray) -> list[Transcript]: ...


class PocketSphinxEngine:
    """CMU PocketSphinx 5 with its bundled en-us acoustic model, language model and dictionary."""

    name: ClassVar[str] = "pocketsphinx"

    def __init__(self, model: str | None = None) -> None:
        from pocketsphinx import Decoder

        options = {"hmm": model} if model else {}
        self._decoder = Decoder(samprate=ANALYSIS_RATE, loglevel="FATAL", **options)
        self.model_id = model or "pocketsphinx/en-us"

    def transcribe(self, audio: np.ndarray) -> list[Transcript]:
        d = self._decoder
        d.start_utt()
        d.process_raw((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        text = hyp.hypstr.strip() if hyp else ""
        frame = 0.01  # pocketsphinx frames are 10 ms
        words = [(s.word.split("(")[0], s.start_frame * frame, (s.end_frame + 1) * frame) for s in d.seg()
                 if not s.word.startswith(("<", "[")) and s.word != "<sil>"]
        if not text:
            return []
        return [Transcript(text=text, start=words[0][1] if words else 0.0,
                           end=words[-1][2] if words else audio.size / ANALYSIS_RATE, words=words)]


class FasterWhisperEngine:
    """faster-whisper (CTranslate2): a hub id ("Systran/faster-whisper-small", fetched once into the HF cache) or
    a local CTranslate2 directory (model.bin, config.json, tokenizer.json, vocabulary.json). Word timestamps on;
    `language` None detects it per voice range (reported in the segments' detail); `options` go to
    `WhisperModel.transcribe` (e.g. beam_size, temperature, max_new_tokens)."""

    name: ClassVar[str] = "faster-whisper"

    def __init__(self, model: str | None = None, compute_type: str = "int8", language: str | None = None,
                 options: dict | None = None) -> None:
        if not model:
            raise AnalyzerUnavailable("faster-whisper needs a model id or a local path (option 'model')")
        from faster_whisper import WhisperModel  # optional: the asr extra

        try:
            self._model = WhisperModel(model, device="cpu", compute_type=compute_type)
        except (OSError, ValueError, RuntimeError) as exc:  # missing files, offline hub, bad model directory
            raise AnalyzerUnavailable(f"faster-whisper could not load {model!r}: {exc}") from exc
        self.model_id = model
        self._language = language
        self._options = {"temperature": 0.0, "condition_on_previous_text": False, **(options or {})}
        self.last_language: str | None = None

    def transcribe(self, audio: np.ndarray) -> list[Transcript]:
        segments, info = self._model.transcribe(audio.astype(np.float32), word_timestamps=True,
                                                language=self._language, **self._options)
        out = [Transcript(text=s.text.strip(), start=s.start, end=s.end,
                          words=[(w.word.strip(), w.start, w.end) for w in (s.words or [])]) for s in segments]
        self.last_language = info.language
        return out


ENGINES: dict[str, type] = {e.name: e for e in (PocketSphinxEngine, FasterWhisperEngine)}


def load_engine(name: str, model: str | None = None, **options: Any) -> AsrEngine:
    """The engine `name`; raises ImportError / AnalyzerUnavailable when it cannot run here."""
    try:
        cls = ENGINES[name]
    except KeyError:
        raise AnalyzerUnavailable(f"unknown ASR engine {name!r}; engines: {list(ENGINES)}") from None
    return cls(model=model, **options)
