"""What the transformers-backed embedders (CLIP, CLAP) share: loading a checkpoint from a hub id or a local path
with readable errors, and batched inference that returns L2-normalised float32 rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from vidpipe.understanding.embedders.base import (
    EmbedderUnavailable,
    hub_version,
    l2_normalize,
    resolve_model,
    unavailable_reason,
)

T = TypeVar("T")


def load_checkpoint(name: str, model: str, load: Callable[[str], T]) -> tuple[Any, T, str]:
    """(torch, what `load(source)` built, model version); EmbedderUnavailable says why when anything is missing."""
    try:
        import torch
        import transformers  # noqa: F401 - the error names the extra before any weights are looked for
    except ImportError as exc:
        raise EmbedderUnavailable(f"{name} needs the `ml` extra (torch, transformers): {exc}") from exc
    source, version = resolve_model(model)
    try:
        loaded = load(source)
    except ImportError as exc:  # a model class this transformers lacks
        raise EmbedderUnavailable(f"{name} needs the `ml` extra (torch, transformers): {exc}") from exc
    except (OSError, ValueError) as exc:
        raise EmbedderUnavailable(f"{name} model {model!r} cannot be loaded: {unavailable_reason(exc)}") from exc
    return torch, loaded, version or hub_version(model)


def features(output: Any) -> np.ndarray:
    # transformers 5 returns an output object whose pooled tensor is the projected embedding; 4.x a tensor.
    tensor = getattr(output, "pooler_output", output)
    return tensor.detach().float().cpu().numpy()


def embed_batches(torch: Any, items: Sequence[Any], batch_size: int, dim: int,
                  forward: Callable[[Sequence[Any]], Any]) -> np.ndarray:
    """`forward(batch)` -> the model's features, per batch of `items`, without autograd; normalised rows."""
    out = []
    for i in range(0, len(items), batch_size):
        with torch.inference_mode():
            out.append(features(forward(items[i:i + batch_size])))
    return l2_normalize(np.concatenate(out)) if out else np.zeros((0, dim), np.float32)
