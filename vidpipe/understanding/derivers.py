"""Derivers for the analysis pass (vidpipe.analysis.base.Deriver): thin adapters over vidpipe.understanding.derive.

Registered with the analysis registry on import (`register()`); an entry point passes configuration as
per-deriver options: `deriver_options(UnderstandingConfig.from_settings(settings))`. Without configuration,
`text_embeddings` runs (its model ships in a package) and the CLIP/CLAP derivers say they are not enabled.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vidpipe.analysis.base import ANALYSIS_RATE, Analysis, AnalyzerUnavailable, DeriverOutput
from vidpipe.understanding import derive
from vidpipe.understanding.config import UnderstandingConfig
from vidpipe.understanding.embedders import EmbedderUnavailable, load_embedder

TARGETS = {
    "visual_embeddings": "vidpipe.understanding.derivers:VisualEmbeddings",
    "audio_embeddings": "vidpipe.understanding.derivers:AudioEmbeddings",
    "text_embeddings": "vidpipe.understanding.derivers:TextEmbeddings",
}


def register() -> None:
    from vidpipe.analysis import registry

    for name, target in TARGETS.items():
        registry.register_deriver(name, target)


def deriver_options(config: UnderstandingConfig, *, title: str | None = None,
                    description: str | None = None) -> dict[str, dict[str, Any]]:
    """Options for registry.build(): the config for each deriver (+ the asset's title/description for text)."""
    return {"visual_embeddings": {"config": config}, "audio_embeddings": {"config": config},
            "text_embeddings": {"config": config, "title": title, "description": description}}


def _load(embedder: str, config: UnderstandingConfig | None, model: str | None):
    config = config or UnderstandingConfig()
    if model is None and embedder not in config.embedders:
        raise AnalyzerUnavailable(f"{embedder} is not enabled (add it to VIDPIPE_EMBEDDERS and set its model)")
    try:
        return load_embedder(embedder, model or config.model_for(embedder), device=config.device), config
    except EmbedderUnavailable as exc:
        raise AnalyzerUnavailable(exc.message) from exc


class VisualEmbeddings:
    """CLIP vectors of scene key frames, a pooled per-asset vector, and zero-shot machine tags."""

    name: ClassVar[str] = "visual_embeddings"

    def __init__(self, config: UnderstandingConfig | None = None, model: str | None = None) -> None:
        self.embedder, self.config = _load("clip", config, model)

    def derive(self, analysis: Analysis) -> DeriverOutput:
        scenes = [s for s in analysis.segments_of("scene") if s.keyframe_key in analysis.keyframes]
        frames = [analysis.keyframes[key] for s in scenes if (key := s.keyframe_key) is not None]  # every one
        vectors, pooled = derive.embed_keyframes(self.embedder, scenes, frames)
        out = DeriverOutput(metrics={"model": self.embedder.model, "version": self.embedder.version,
                                     "dim": self.embedder.dim, "keyframes": len(scenes)})
        if pooled is not None:
            out.vectors.append(pooled)
            out.machine_tags = derive.zero_shot_tags(
                self.embedder, vectors, [max(0.1, s.end - s.start) for s in scenes], self.config.zero_shot_labels,
                min_score=self.config.zero_shot_min_score)
        return out


class AudioEmbeddings:
    """CLAP vectors per audio window (new `audio` segments) and pooled."""

    name: ClassVar[str] = "audio_embeddings"

    def __init__(self, config: UnderstandingConfig | None = None, model: str | None = None) -> None:
        self.embedder, self.config = _load("clap", config, model)

    def derive(self, analysis: Analysis) -> DeriverOutput:
        segments, pooled = derive.embed_audio_windows(self.embedder, analysis.audio, ANALYSIS_RATE,
                                                      self.config.audio_window_seconds)
        metrics = {"model": self.embedder.model, "version": self.embedder.version, "dim": self.embedder.dim,
                   "windows": len(segments)}
        if analysis.ctx.has_audio and analysis.audio.size == 0:
            # The pass decodes the track only when an audio analyzer runs.
            metrics["note"] = "no audio decoded: no audio analyzer was selected"
        return DeriverOutput(segments=segments, vectors=[pooled] if pooled else [], metrics=metrics)


class TextEmbeddings:
    """Sentence vectors of transcript segments (+ pooled "speech") and of the title/description ("text")."""

    name: ClassVar[str] = "text_embeddings"

    def __init__(self, config: UnderstandingConfig | None = None, model: str | None = None,
                 title: str | None = None, description: str | None = None) -> None:
        self.embedder, self.config = _load("text", config, model)
        self.title, self.description = title, description

    def derive(self, analysis: Analysis) -> DeriverOutput:
        out = DeriverOutput(metrics={"model": self.embedder.model, "version": self.embedder.version,
                                     "dim": self.embedder.dim})
        pooled = derive.embed_transcript(self.embedder, analysis.segments_of("speech"))
        if pooled is not None:
            out.vectors.append(pooled)
        title = self.title
        if title is None:  # container metadata, when the stage was not told the asset's title
            tags = ((analysis.ctx.probe or {}).get("tags") or {}) if isinstance(analysis.ctx.probe, dict) else {}
            title = tags.get("title") if isinstance(tags, dict) else None
        meta = derive.embed_metadata(self.embedder, title, self.description)
        if meta is not None:
            out.vectors.append(meta)
        return out


register()
