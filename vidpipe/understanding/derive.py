"""Pure cores of the understanding derivers: arrays and strings in, vectors / segments / machine tags out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidpipe.contract import MachineTag, Segment, VectorRecord
from vidpipe.understanding.embedders.base import Embedder, pool

ZERO_SHOT_PROMPT = "a video of {}"
ZERO_SHOT_TEMPERATURE = 100.0  # CLIP's learned logit scale (exp(4.6052)); turns cosines into a softmax


def record(embedder: Embedder, modality: str, vector: np.ndarray) -> VectorRecord:
    return VectorRecord(modality=modality, model=embedder.model, model_version=embedder.version,
                        values=[float(x) for x in np.asarray(vector, dtype=np.float32)])


def embed_keyframes(embedder: Embedder, scenes: Sequence[Segment], frames: Sequence[np.ndarray]
                    ) -> tuple[np.ndarray, VectorRecord | None]:
    """Attach a visual vector to each scene (its key frame); return the vectors and the pooled per-asset vector."""
    if not scenes:
        return np.zeros((0, embedder.dim), np.float32), None
    vectors = embedder.embed_images(list(frames))
    for seg, v in zip(scenes, vectors, strict=True):
        seg.vectors.append(record(embedder, "visual", v))
    return vectors, record(embedder, "visual", pool(vectors))


def zero_shot_tags(embedder: Embedder, image_vectors: np.ndarray, weights: Sequence[float], labels: Sequence[str],
                   *, min_score: float = 0.0) -> list[MachineTag]:
    """Labels scored with the text tower: softmax over labels per frame, averaged with `weights` (scene lengths)."""
    if len(image_vectors) == 0 or not labels:
        return []
    text = embedder.embed_texts([ZERO_SHOT_PROMPT.format(label) for label in labels])
    logits = ZERO_SHOT_TEMPERATURE * (np.asarray(image_vectors) @ text.T)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
    scores = (probs * w[:, None]).sum(axis=0)
    return [MachineTag(label=label, score=round(float(s), 4), model=embedder.model, model_version=embedder.version)
            for label, s in zip(labels, scores, strict=True) if s >= min_score]


def audio_windows(duration: float, window: float) -> list[tuple[float, float]]:
    """Consecutive windows covering [0, duration); a short tail joins the previous window's length budget."""
    if duration <= 0:
        return []
    edges = list(np.arange(0.0, duration, window)) + [duration]
    spans = [(round(a, 3), round(b, 3)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < 1.0:  # a sliver tail: too short to say anything
        spans.pop()
    return spans


def embed_audio_windows(embedder: Embedder, audio: np.ndarray, rate: int, window: float
                        ) -> tuple[list[Segment], VectorRecord | None]:
    """`audio` segments (one per window) carrying CLAP vectors, and the pooled per-asset vector."""
    spans = audio_windows(len(audio) / rate if rate else 0.0, window)
    if not spans:
        return [], None
    clips = [audio[int(a * rate):int(b * rate)] for a, b in spans]
    vectors = embedder.embed_audio(clips, rate)
    segments = [Segment(kind="audio", start=a, end=b, vectors=[record(embedder, "audio", v)])
                for (a, b), v in zip(spans, vectors, strict=True)]
    return segments, record(embedder, "audio", pool(vectors))


def embed_transcript(embedder: Embedder, speech: Sequence[Segment]) -> VectorRecord | None:
    """Attach a text vector to each transcript segment with words; return the pooled "speech" vector."""
    worded = [s for s in speech if s.text and s.text.strip()]
    if not worded:
        return None
    vectors = embedder.embed_texts([s.text or "" for s in worded])
    for seg, v in zip(worded, vectors, strict=True):
        seg.vectors.append(record(embedder, "speech", v))
    return record(embedder, "speech", pool(vectors))


def embed_metadata(embedder: Embedder, title: str | None, description: str | None) -> VectorRecord | None:
    """One "text" vector for the title and description (what a search for the video's name should find)."""
    content = "\n".join(p.strip() for p in (title or "", description or "") if p and p.strip())
    if not content:
        return None
    return record(embedder, "text", embedder.embed_texts([content])[0])
