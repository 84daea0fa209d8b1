"""The embedder interface: model name, version and dimension travel with every (L2-normalised) vector."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from vidpipe.errors import VidpipeError

# Files whose bytes define a model's behaviour (weights, architecture, preprocessing, vocabulary).
_VERSION_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".model", ".pt")
_IGNORED_NAMES = frozenset({"README.md", ".gitattributes"})


class EmbedderUnavailable(VidpipeError):
    """An embedder's dependencies or weights are missing; the rest of the analysis keeps running."""

    code = "embedder_unavailable"
    http_status = 503


class Embedder:
    """Base class. Subclasses set `name` and `modalities` and implement the embed_* methods they support."""

    name: ClassVar[str]
    modalities: ClassVar[frozenset[str]]  # which inputs it embeds: image, audio, text

    model: str  # what was configured: hub id, local path or packaged model name
    version: str  # weights revision, or a hash of the config + weights files
    dim: int

    if TYPE_CHECKING:  # how the registry builds every backend (load_embedder); the base itself takes nothing
        def __init__(self, model: str, *, device: str = "cpu") -> None: ...

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB uint8 arrays (H, W, 3) -> (n, dim) float32, rows L2-normalised."""
        raise NotImplementedError(f"{self.name} does not embed images")

    def embed_audio(self, clips: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """Mono float32 waveforms in [-1, 1] -> (n, dim), rows L2-normalised."""
        raise NotImplementedError(f"{self.name} does not embed audio")

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Strings -> (n, dim), rows L2-normalised (for CLIP/CLAP: the text tower, same space as images/audio)."""
        raise NotImplementedError(f"{self.name} does not embed text")


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        n = float(np.linalg.norm(x))
        return x / n if n > 0 else x
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def pool(vectors: np.ndarray) -> np.ndarray:
    """Mean of normalised vectors, renormalised: the per-asset vector."""
    return l2_normalize(l2_normalize(np.asarray(vectors)).mean(axis=0))


def files_version(model_dir: Path) -> str:
    """A content hash of a local model directory's config + weights files (changes when any of them changes)."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(model_dir).rglob("*")
                   if p.is_file() and p.suffix in _VERSION_SUFFIXES and p.name not in _IGNORED_NAMES)
    if not files:
        raise EmbedderUnavailable(f"no model files in {model_dir}")
    for path in files:
        digest.update(str(path.relative_to(model_dir)).encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:32]


def resolve_model(model: str) -> tuple[str, str | None]:
    """(what to pass to from_pretrained, version if already known). Local dirs are hashed; hub ids are
    versioned by the revision of the cached snapshot after loading (see `hub_version`)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path), files_version(path)
    return model, None


def hub_version(model_id: str) -> str:
    """The commit of the cached hub snapshot `model_id` was loaded from."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model_id, "config.json")
    if isinstance(cached, str):
        return "rev:" + Path(cached).parent.name[:40]
    return "rev:unknown"


def unavailable_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]
