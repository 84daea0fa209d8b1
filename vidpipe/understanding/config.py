"""What the understanding pass is configured with; built from Settings at an entry point and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field

from vidpipe.settings import Settings, UnderstandingSettings

_DEFAULTS = UnderstandingSettings.model_construct()  # the defaults, written once in vidpipe.settings
DEFAULT_LABELS = tuple(_DEFAULTS.zero_shot_labels)


@dataclass(frozen=True)
class UnderstandingConfig:
    # Embedders to run, by registry name (see UnderstandingSettings for why clip/clap are opt-in).
    embedders: tuple[str, ...] = tuple(_DEFAULTS.embedders)
    clip_model: str = _DEFAULTS.clip_model
    clap_model: str = _DEFAULTS.clap_model
    text_model: str = _DEFAULTS.text_model
    zero_shot_labels: tuple[str, ...] = DEFAULT_LABELS
    zero_shot_min_score: float = 0.0  # keep every label's score; search filters by score
    audio_window_seconds: float = _DEFAULTS.audio_window_seconds
    device: str = "cpu"
    batch_size: int = 16

    def model_for(self, embedder: str) -> str:
        return {"clip": self.clip_model, "clap": self.clap_model, "text": self.text_model}[embedder]

    @classmethod
    def from_settings(cls, settings: Settings) -> UnderstandingConfig:
        """Settings' understanding group -> config."""
        group = settings.understanding
        return cls(embedders=tuple(group.embedders), clip_model=group.clip_model, clap_model=group.clap_model,
                   text_model=group.text_model, zero_shot_labels=tuple(group.zero_shot_labels),
                   audio_window_seconds=group.audio_window_seconds)


@dataclass
class Availability:
    """Which embedders could be loaded: name -> "ok" | "unavailable: <why>"."""

    status: dict[str, str] = field(default_factory=dict)
