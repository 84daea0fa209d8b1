"""Analyzers and derivers by name. Modules are imported only when chosen; a missing dependency is a state.

`build(names, options)` instantiates what it can and reports the rest as "unavailable: <why>".
Derivers (embedders, classifiers) from other packages join with `register_deriver(name, "module:Class")`,
called when their module is imported; the modules in PLUGIN_MODULES are imported on first use (a plugin
that cannot be imported, e.g. without the ml extra, is skipped and its derivers are simply not offered).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

from vidpipe.analysis.base import AnalyzerUnavailable, AudioAnalyzer, Deriver, VideoAnalyzer

VIDEO_ANALYZERS: dict[str, str] = {
    "scenes": "vidpipe.analysis.scenes:SceneAnalyzer",
    "fingerprints": "vidpipe.analysis.fingerprints:FrameHashAnalyzer",
    "black": "vidpipe.analysis.black:BlackAnalyzer",
}
AUDIO_ANALYZERS: dict[str, str] = {
    "loudness": "vidpipe.analysis.loudness:LoudnessAnalyzer",
    "silence": "vidpipe.analysis.silence:SilenceAnalyzer",
    "audio_fingerprint": "vidpipe.analysis.audio_fingerprint:AudioFingerprintAnalyzer",
    "oneshots": "vidpipe.analysis.oneshots:OneShotAnalyzer",
    "speech": "vidpipe.analysis.speech:SpeechAnalyzer",
}
DERIVERS: dict[str, str] = {}
PLUGIN_MODULES: tuple[str, ...] = ("vidpipe.understanding.derivers",)
_plugins_loaded = False
log = logging.getLogger(__name__)


def load_plugins() -> None:
    """Import the plugin modules once; each registers its derivers."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            log.info("analysis.plugin_unavailable", extra={"plugin": module, "error": str(exc)})


def register_deriver(name: str, target: str) -> None:
    """Make a deriver available by name; `target` is "package.module:ClassName" (imported when chosen)."""
    DERIVERS[name] = target


def analyzer_names() -> list[str]:
    """Every analyzer of phase 1 (no derivers)."""
    return [*VIDEO_ANALYZERS, *AUDIO_ANALYZERS]


def available_names() -> list[str]:
    load_plugins()
    return [*VIDEO_ANALYZERS, *AUDIO_ANALYZERS, *DERIVERS]


@dataclass
class Selection:
    video: list[VideoAnalyzer] = field(default_factory=list)
    audio: list[AudioAnalyzer] = field(default_factory=list)
    derivers: list[Deriver] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)  # name -> "ok" | "unavailable: ..." | "skipped: ..."


def _load(target: str) -> type:
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def build(names: list[str] | None = None, options: dict[str, dict[str, Any]] | None = None, *,
          has_video: bool = True, has_audio: bool = True) -> Selection:
    """Instantiate the chosen analyzers/derivers (default: all registered). Unknown names are an error."""
    load_plugins()
    names = list(names) if names is not None else available_names()
    unknown = [n for n in names if n not in VIDEO_ANALYZERS and n not in AUDIO_ANALYZERS and n not in DERIVERS]
    if unknown:
        raise ValueError(f"unknown analyzers {unknown}; known: {available_names()}")
    options = options or {}
    sel = Selection()
    for name in names:
        if name in VIDEO_ANALYZERS and not has_video:
            sel.status[name] = "skipped: no video stream"
            continue
        if name in AUDIO_ANALYZERS and not has_audio:
            sel.status[name] = "skipped: no audio stream"
            continue
        target = VIDEO_ANALYZERS.get(name) or AUDIO_ANALYZERS.get(name) or DERIVERS[name]
        try:
            instance = _load(target)(**options.get(name, {}))
        except ImportError as exc:
            sel.status[name] = f"unavailable: {exc.name or exc} is not installed"
            continue
        except AnalyzerUnavailable as exc:
            sel.status[name] = f"unavailable: {exc}"
            continue
        bucket = sel.video if name in VIDEO_ANALYZERS else sel.audio if name in AUDIO_ANALYZERS else sel.derivers
        bucket.append(instance)
        sel.status[name] = "ok"
    return sel
