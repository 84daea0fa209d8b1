"""CLAP through transformers' ClapModel: audio and text towers in one space ("dog barking" finds barks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidpipe.understanding.embedders.base import Embedder
from vidpipe.understanding.embedders.transformers_loader import embed_batches, load_checkpoint


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
        def load(source: str):
            from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel

            # transformers decorates .to() with functools.wraps(torch.nn.Module.to): typeshed's _Wrapped keeps the
            # unbound signature, so the device is taken for `self`
            loaded = ClapModel.from_pretrained(source).to(device).eval()  # type: ignore[arg-type]
            fused = bool(getattr(loaded.config.audio_config, "enable_fusion", False))
            # Unfused checkpoints take one mel channel; the extractor's default "fusion" input has four.
            extractor = ClapFeatureExtractor.from_pretrained(source, truncation="fusion" if fused else "rand_trunc")
            return loaded, extractor, AutoTokenizer.from_pretrained(source)

        self._torch, (self._model, self._features, self._tokenizer), self.version = load_checkpoint("clap", model,
                                                                                                    load)
        self.model = model
        self.dim = int(self._model.config.projection_dim)
        self.device = device
        self.batch_size = batch_size
        self.sample_rate = int(self._features.sampling_rate)
        # Longer inputs would be cropped at a random place; callers window audio to this length.
        self.max_seconds = float(getattr(self._features, "nb_max_samples", 480000)) / self.sample_rate

    def embed_audio(self, clips: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        limit = int(self.max_seconds * self.sample_rate)
        prepared = [resample(c, sample_rate, self.sample_rate)[:limit] for c in clips]

        def forward(batch):
            inputs = self._features(list(batch), sampling_rate=self.sample_rate, return_tensors="pt").to(self.device)
            return self._model.get_audio_features(**inputs)

        return embed_batches(self._torch, prepared, self.batch_size, self.dim, forward)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        def forward(batch):
            inputs = self._tokenizer(list(batch), padding=True, truncation=True, max_length=77,
                                     return_tensors="pt").to(self.device)
            return self._model.get_text_features(**inputs)

        return embed_batches(self._torch, texts, self.batch_size, self.dim, forward)
