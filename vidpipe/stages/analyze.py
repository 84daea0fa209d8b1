"""The analyze stage: scenes + key frames, visual and audio fingerprints, black, silence, loudness,
one-shots, speech (VAD + ASR + captions), then derivers (embedders) — from ONE decode per stream kind.

Which analyzers run: the `analyzers` argument, else the profile's, else settings.understanding.analyzers
(VIDPIPE_ANALYZERS), else everything registered. Per-analyzer options come from `options`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from vidpipe.analysis import registry
from vidpipe.analysis.pipeline import Opener, run_pass
from vidpipe.contract import Output, StageInput, StageResult
from vidpipe.errors import JobCancelledError
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.settings import Settings

STOP_POLL_SECONDS = 0.1
T = TypeVar("T")


def chosen_names(analyzers: list[str] | None, settings: Settings | None) -> list[str] | None:
    if analyzers is not None:
        return list(analyzers)
    configured = settings.understanding.analyzers if settings is not None else []
    return list(configured) or None


def _embedding_options(inp: StageInput) -> dict[str, dict[str, Any]]:
    """The configured embedders (from Settings) and the asset's own words for the text embedder."""
    from vidpipe.understanding.config import UnderstandingConfig
    from vidpipe.understanding.derivers import deriver_options

    if inp.settings is None:  # nothing configured (run() does not ask then)
        return {}
    config = UnderstandingConfig.from_settings(inp.settings)
    if inp.profile.zero_shot_labels is not None:  # the profile's own label set for classification
        config = dataclasses.replace(config, zero_shot_labels=tuple(inp.profile.zero_shot_labels))
    return deriver_options(config, title=inp.title or None,
                           description=inp.description or None)


def interruptible(step: Callable[[], T], should_stop: Callable[[], bool]) -> T:
    """Run a step that cannot check `should_stop` itself (loading models: seconds of imports and weights) on a
    helper thread, and stop waiting for it as soon as a stop is requested, so a worker told to shut down hands
    its job back at once. The step finishes in the background; the models it loads are cached per process."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = step()
        except BaseException as exc:
            box["error"] = exc

    helper = threading.Thread(target=target, name="analysis-load", daemon=True)
    helper.start()
    while helper.is_alive():
        helper.join(STOP_POLL_SECONDS)
        if should_stop():
            raise JobCancelledError("analysis stopped on request")
    if "error" in box:
        raise box["error"]
    return box["value"]


def run(inp: StageInput, *, analyzers: list[str] | None = None, options: dict[str, dict[str, Any]] | None = None,
        opener: Opener | None = None) -> StageResult:
    probe = inp.probe or probe_file(inp.source_path, inp.limits)
    if analyzers is None and inp.profile.analyzers is not None:  # the profile chooses, else the settings
        analyzers = list(inp.profile.analyzers)
    if options is None and inp.settings is not None:
        options = _embedding_options(inp)
    for name, extra in (inp.profile.analyzer_options or {}).items():  # the profile's settings reach every analyzer
        options = dict(options or {})
        options[name] = {**options.get(name, {}), **extra}
    selection = interruptible(lambda: registry.build(chosen_names(analyzers, inp.settings), options,
                                                     has_video=bool(probe["has_video"]),
                                                     has_audio=bool(probe["has_audio"])), inp.should_stop)
    result = run_pass(inp.source_path, probe, selection, opener=opener, max_frame_pixels=inp.limits.max_frame_pixels,
                      should_stop=inp.should_stop, progress=inp.progress)
    outputs: list[Output] = []
    for f in result.outputs:
        path = inp.work_dir / f.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.data)
        outputs.append(Output(f.key, path, f.kind, f.content_type))
    metrics = dict(result.metrics)
    loudness = metrics.pop("loudness", None)
    metadata: dict[str, Any] = {
        "analysis": {"analyzers": result.understanding.analyzers, "timings": result.timings, "results": metrics,
                     "decodes": dict(result.stats.opens), "video_frames": result.stats.video_frames,
                     "audio_seconds": round(result.stats.audio_samples / 16_000, 3)},
    }
    if loudness is not None:
        metadata["loudness"] = loudness
    return StageResult(outputs=outputs, metadata=metadata, understanding=result.understanding)
