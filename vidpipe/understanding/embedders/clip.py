"""CLIP through transformers' CLIPModel (no torchvision needed): image and text towers in one space."""

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


def _features(output) -> np.ndarray:
    # transformers 5 returns an output object whose pooled tensor is the projected embedding; 4.x a tensor.
    tensor = getattr(output, "pooler_output", output)
    return tensor.detach().float().cpu().numpy()


class ClipEmbedder(Embedder):
    name = "clip"
    modalities = frozenset({"image", "text"})

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 16) -> None:
        try:
            import torch
            from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel
        except ImportError as exc:
            raise EmbedderUnavailable(f"clip needs the `ml` extra (torch, transformers): {exc}") from exc
        source, version = resolve_model(model)
        try:
            # transformers decorates .to() with functools.wraps(torch.nn.Module.to): typeshed's _Wrapped keeps the
            # unbound signature, so the device is taken for `self`
            self._model = CLIPModel.from_pretrained(source).to(device).eval()  # type: ignore[arg-type]
            # The PIL image processor: the default one wants torchvision, which cannot import beside CPU torch.
            self._images = CLIPImageProcessorPil.from_pretrained(source)
            self._tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise EmbedderUnavailable(f"clip model {model!r} cannot be loaded: {unavailable_reason(exc)}") from exc
        self._torch = torch
        self.model = model
        self.version = version or hub_version(model)
        self.dim = int(self._model.config.projection_dim)
        self.device = device
        self.batch_size = batch_size
        self._max_text = int(getattr(self._model.config.text_config, "max_position_embeddings", 77))

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        from PIL import Image

        out = []
        for i in range(0, len(images), self.batch_size):
            batch = [Image.fromarray(np.asarray(img, dtype=np.uint8)).convert("RGB")
                     for img in images[i:i + self.batch_size]]
            inputs = self._images(images=batch, return_tensors="pt").to(self.device)
            with self._torch.inference_mode():
                out.append(_features(self._model.get_image_features(**inputs)))
        return l2_normalize(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            inputs = self._tokenizer(list(texts[i:i + self.batch_size]), padding=True, truncation=True,
                                     max_length=self._max_text, return_tensors="pt").to(self.device)
            with self._torch.inference_mode():
                out.append(_features(self._model.get_text_features(**inputs)))
        return l2_normalize(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)
