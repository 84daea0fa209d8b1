"""CLIP through transformers' CLIPModel (no torchvision needed): image and text towers in one space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidpipe.understanding.embedders.base import Embedder
from vidpipe.understanding.embedders.transformers_loader import embed_batches, load_checkpoint


class ClipEmbedder(Embedder):
    name = "clip"
    modalities = frozenset({"image", "text"})

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 16) -> None:
        def load(source: str):
            from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

            # transformers decorates .to() with functools.wraps(torch.nn.Module.to): typeshed's _Wrapped keeps the
            # unbound signature, so the device is taken for `self`
            model = CLIPModel.from_pretrained(source).to(device).eval()  # type: ignore[arg-type]
            # The PIL image processor: the default one wants torchvision, which cannot import beside CPU torch.
            return model, CLIPImageProcessorPil.from_pretrained(source), AutoTokenizer.from_pretrained(source)

        self._torch, (self._model, self._images, self._tokenizer), self.version = load_checkpoint("clip", model, load)
        self.model = model
        self.dim = int(self._model.config.projection_dim)
        self.device = device
        self.batch_size = batch_size
        self._max_text = int(getattr(self._model.config.text_config, "max_position_embeddings", 77))

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        from PIL import Image

        def forward(batch):
            pictures = [Image.fromarray(np.asarray(img, dtype=np.uint8)).convert("RGB") for img in batch]
            return self._model.get_image_features(**self._images(images=pictures, return_tensors="pt").to(self.device))

        return embed_batches(self._torch, images, self.batch_size, self.dim, forward)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        def forward(batch):
            inputs = self._tokenizer(list(batch), padding=True, truncation=True, max_length=self._max_text,
                                     return_tensors="pt").to(self.device)
            return self._model.get_text_features(**inputs)

        return embed_batches(self._torch, texts, self.batch_size, self.dim, forward)
