"""Embedder registry keyed by each class's `name`; backends import their heavy dependencies only when built."""

from __future__ import annotations

import importlib
import threading
import time

from vidpipe.understanding.config import UnderstandingConfig
from vidpipe.understanding.embedders.base import (
    Embedder,
    EmbedderUnavailable,
    files_version,
    l2_normalize,
    pool,
    unavailable_reason,
)

# name -> "module:Class"; modules are imported on first use, so listing them costs nothing.
REGISTRY: dict[str, str] = {
    "clip": "vidpipe.understanding.embedders.clip:ClipEmbedder",
    "clap": "vidpipe.understanding.embedders.clap:ClapEmbedder",
    "text": "vidpipe.understanding.embedders.text:TextEmbedder",
}

_cache: dict[tuple[str, str, str], Embedder] = {}
_failed: dict[tuple[str, str, str], tuple[float, EmbedderUnavailable]] = {}
_cache_lock = threading.Lock()
RETRY_FAILED_SECONDS = 60.0  # a long-lived API process retries a model that failed to load, but not per request


def embedder_class(name: str) -> type[Embedder]:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise EmbedderUnavailable(f"unknown embedder {name!r} (known: {', '.join(sorted(REGISTRY))})") from None
    module, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    assert cls.name == name, f"registry entry {name!r} points at {cls.name!r}"
    return cls


def load_embedder(name: str, model: str, *, device: str = "cpu") -> Embedder:
    """Build (once per process and model) the embedder `name` with weights `model`; EmbedderUnavailable if not."""
    key = (name, model, device)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        failed = _failed.get(key)
        if failed is not None and time.monotonic() - failed[0] < RETRY_FAILED_SECONDS:
            raise failed[1]
        try:
            _cache[key] = embedder_class(name)(model, device=device)
        except EmbedderUnavailable as exc:
            _failed[key] = (time.monotonic(), exc)
            raise
        _failed.pop(key, None)
        return _cache[key]


def load_configured(config: UnderstandingConfig) -> tuple[dict[str, Embedder], dict[str, str]]:
    """The configured embedders that load, and a status per name: "ok" or "unavailable: <why>"."""
    loaded: dict[str, Embedder] = {}
    status: dict[str, str] = {}
    for name in config.embedders:
        try:
            loaded[name] = load_embedder(name, config.model_for(name), device=config.device)
            status[name] = "ok"
        except EmbedderUnavailable as exc:
            status[name] = f"unavailable: {exc.message}"
        except KeyError:
            status[name] = f"unavailable: unknown embedder {name!r}"
    return loaded, status


__all__ = ["REGISTRY", "Embedder", "EmbedderUnavailable", "embedder_class", "files_version", "l2_normalize",
           "load_configured", "load_embedder", "pool", "unavailable_reason"]
