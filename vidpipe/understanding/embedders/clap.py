"""CLAP through transformers' ClapModel: audio and text towers in one space ("dog barking" finds barks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidpipe.understanding.embedders.base import (
    Embedder,
    EmbedderUnavailable,
    hub_version,
    l2_normalize,
    resolve_model,
    unavailable_reason,
)
from vidpipe.understanding.embedders.clip import _features


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear resampling; enough for a 48 kHz model fed 16/44.1 kHz analysis audio."""
    samples = np.asarray(samples, dtype=np.float32)
    if rate == target or samples.size == 0:
        return samples
    n = max(1, round(samples.size * target / rate))
    return np.interp(np.linspace(0, samples.size - 1, n), np.arange(samples.size), samples).astype(np.float32)


class ClapEmbedder(Embedder):
    name = "clap"
    modalities = frozenset({"audio", "text"})

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 8) -> None:
        try:
            import torch
            from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel
        except ImportError as exc:
            raise EmbedderUnavailable(f"clap needs the `ml` extra (torch, transformers): {exc}") from exc
        source, version = resolve_model(model)
        try:
            # transformers decorates .to() with functools.wraps(torch.nn.Module.to): typeshed's _Wrapped keeps the
            # unbound signature, so the device is taken for `self`
            self._model = ClapModel.from_pretrained(source).to(device).eval()  # type: ignore[arg-type]
            fused = bool(getattr(self._model.config.audio_config, "enable_fusion", False))
            # Unfused checkpoints take one mel channel; the extractor's default "fusion" input has four.
            self._features = ClapFeatureExtractor.from_pretrained(
                source, truncation="fusion" if fused else "rand_trunc")
            self._tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise EmbedderUnavailable(f"clap model {model!r} cannot be loaded: {unavailable_reason(exc)}") from exc
        self._torch = torch
        self.model = model
        self.version = version or hub_version(model)
        self.dim = int(self._model.config.projection_dim)
        self.device = device
        self.batch_size = batch_size
        self.sample_rate = int(self._features.sampling_rate)
        # Longer inputs would be cropped at a random place; callers window audio to this length.
        self.max_seconds = float(getattr(self._features, "nb_max_samples", 480000)) / self.sample_rate

    def embed_audio(self, clips: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        limit = int(self.max_seconds * self.sample_rate)
        prepared = [resample(c, sample_rate, self.sample_rate)[:limit] for c in clips]
        out = []
        for i in range(0, len(prepared), self.batch_size):
            inputs = self._features(prepared[i:i + self.batch_size], sampling_rate=self.sample_rate,
                                    return_tensors="pt").to(self.device)
            with self._torch.inference_mode():
                out.append(_features(self._model.get_audio_features(**inputs)))
        return l2_normalize(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            inputs = self._tokenizer(list(texts[i:i + self.batch_size]), padding=True, truncation=True,
                                     max_length=77, return_tensors="pt").to(self.device)
            with self._torch.inference_mode():
                out.append(_features(self._model.get_text_features(**inputs)))
        return l2_normalize(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)
