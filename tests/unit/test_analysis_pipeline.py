"""The analysis pass: one decode per stream kind feeds every analyzer; derivers get the results;
missing dependencies, failing analyzers and cancellation are handled."""

from __future__ import annotations

import threading
from typing import ClassVar

import numpy as np
import pytest

from vidpipe.analysis import registry
from vidpipe.analysis.base import (
    Analysis,
    AnalysisContext,
    AnalyzerOutput,
    AnalyzerUnavailable,
    AudioAnalyzer,
    AudioChunk,
    BatchVideoAnalyzer,
    Deriver,
    DeriverOutput,
    VideoAnalyzer,
)
from vidpipe.analysis.pipeline import run_pass
from vidpipe.contract import MachineTag, VectorRecord
from vidpipe.errors import JobCancelledError
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.ffmpeg.safe_open import open_input
from vidpipe.settings import Limits


class CountingOpener:
    """The pass's `opener` hook: counts how often the file is opened, per stream kind."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, path, kind):
        self.calls.append(kind)
        return open_input(path)


class FrameRecorder:
    name: ClassVar[str] = "recorder"

    def __init__(self) -> None:
        self.frames: list[tuple[float, int, int]] = []  # (t, index, id(rgb))

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None:
        self.frames.append((t, index, id(rgb)))

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        return AnalyzerOutput(metrics={"frames": len(self.frames)})


class SecondRecorder(FrameRecorder):
    name: ClassVar[str] = "recorder2"


class AudioRecorder:
    name: ClassVar[str] = "audio_recorder"

    def __init__(self) -> None:
        self.samples = 0

    def on_audio(self, chunk: AudioChunk) -> None:
        self.samples += chunk.mono.size

    def finish(self, ctx: AnalysisContext) -> AnalyzerOutput:
        return AnalyzerOutput(metrics={"samples": self.samples})


class FakeEmbedder:
    """What an embedder deriver does: vectors on scene segments from their key frames, a pooled vector, tags."""

    name: ClassVar[str] = "fake_embedder"

    def derive(self, analysis: Analysis) -> DeriverOutput:
        pooled = []
        for seg in analysis.segments_of("scene"):
            if seg.keyframe_key:
                rgb = analysis.keyframes[seg.keyframe_key]
                vec = VectorRecord("visual", "fake/mean-rgb", "1", [float(v) for v in rgb.mean(axis=(0, 1)) / 255])
                seg.vectors.append(vec)
                pooled.append(vec.values)
        audio = analysis.audio_window(0.0, 1.0)
        return DeriverOutput(vectors=[VectorRecord("visual", "fake/mean-rgb", "1", list(np.mean(pooled, axis=0)))],
                             machine_tags=[MachineTag("test pattern", 0.9, "fake/mean-rgb", "1")],
                             metrics={"audio_window": int(audio.size)})


class Broken:
    name: ClassVar[str] = "broken"

    def on_frame(self, t, index, rgb):
        raise RuntimeError("boom")

    def finish(self, ctx):  # pragma: no cover - never reached
        return AnalyzerOutput()


def test_one_video_decode_and_one_audio_decode_feed_every_analyzer(media):
    path = media.get("small_360p")
    selection = registry.build(["scenes", "fingerprints", "black", "loudness", "silence"])
    a, b, c = FrameRecorder(), SecondRecorder(), AudioRecorder()
    selection.video += [a, b]
    selection.audio.append(c)
    opener = CountingOpener()
    result = run_pass(path, probe_file(path, Limits()), selection, opener=opener)
    assert sorted(opener.calls) == ["audio", "video"]  # the file is opened once per stream kind
    assert result.stats.opens == {"video": 1, "audio": 1}
    assert result.stats.video_frames == 90 == len(a.frames)
    # Both analyzers saw the very same decoded-and-scaled arrays, in order.
    assert a.frames == b.frames and [f[1] for f in a.frames] == list(range(90))
    assert c.samples == result.stats.audio_samples == pytest.approx(3 * 16_000, abs=400)
    assert all(result.understanding.analyzers[n] == "ok" for n in ("scenes", "fingerprints", "black", "loudness"))
    assert isinstance(a, VideoAnalyzer) and isinstance(c, AudioAnalyzer)


class BatchRecorder(FrameRecorder):
    """Defines the batch hook: the pass must call it with whole batches, never on_frame."""

    name: ClassVar[str] = "batch_recorder"

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def on_frame(self, t: float, index: int, rgb: np.ndarray) -> None:
        raise AssertionError("on_frame called on an analyzer with on_pictures")

    def on_pictures(self, batch) -> None:
        self.sizes.append(len(batch))
        self.frames += [(t, index, id(picture)) for t, index, picture in batch]


def test_an_analyzer_with_the_batch_hook_gets_whole_batches_and_is_timed(media):
    path = media.get("small_360p")  # 640x360: several frames per batch
    selection = registry.build([])
    recorder = BatchRecorder()
    selection.video.append(recorder)
    result = run_pass(path, probe_file(path, Limits()), selection)
    assert isinstance(recorder, BatchVideoAnalyzer) and not isinstance(FrameRecorder(), BatchVideoAnalyzer)
    assert [f[1] for f in recorder.frames] == list(range(90)) and sum(recorder.sizes) == 90
    assert 1 < max(recorder.sizes) <= 16 and len(recorder.sizes) < 90
    assert result.understanding.analyzers.get("batch_recorder", "ok") == "ok"
    assert "batch_recorder" in result.timings


def test_audio_only_and_video_only_inputs(media):
    mp3 = media.get("mp3")
    opener = CountingOpener()
    result = run_pass(mp3, probe_file(mp3, Limits()), registry.build(registry.analyzer_names(), has_video=False),
                      opener=opener)
    assert opener.calls == ["audio"]
    assert result.understanding.analyzers["scenes"] == "skipped: no video stream"
    assert result.metrics["loudness"]["integrated_lufs"] is not None

    silent = media.get("no_audio")
    opener = CountingOpener()
    result = run_pass(silent, probe_file(silent, Limits()), registry.build(registry.analyzer_names(), has_audio=False),
                      opener=opener)
    assert opener.calls == ["video"]
    assert result.understanding.analyzers["speech"] == "skipped: no audio stream"
    assert result.analysis.segments_of("scene")


def test_derivers_get_keyframes_and_audio_and_their_vectors_are_kept(media):
    path = media.get("small_360p")
    selection = registry.build(["scenes"])  # no audio analyzer: the track is decoded for the deriver anyway
    embedder = FakeEmbedder()
    assert isinstance(embedder, Deriver)
    selection.derivers.append(embedder)
    result = run_pass(path, probe_file(path, Limits()), selection)
    scenes = [s for s in result.understanding.segments if s.kind == "scene"]
    assert len(scenes) == 2 and all(len(s.vectors) == 1 and s.vectors[0].dim == 3 for s in scenes)
    assert result.understanding.vectors[0].model == "fake/mean-rgb"
    assert result.understanding.machine_tags[0].label == "test pattern"
    assert result.metrics["fake_embedder"] == {"audio_window": 16_000}


def test_missing_dependency_is_reported_and_the_rest_runs(media, monkeypatch):
    monkeypatch.setitem(registry.DERIVERS, "clip_missing", "vidpipe_no_such_package.embed:Embedder")
    monkeypatch.setitem(registry.DERIVERS, "needs_weights", f"{__name__}:NeedsWeights")
    selection = registry.build(["black", "clip_missing", "needs_weights"])
    assert selection.status == {"black": "ok", "clip_missing": "unavailable: vidpipe_no_such_package is not installed",
                                "needs_weights": "unavailable: no weights at /nowhere"}
    with pytest.raises(ValueError, match="unknown analyzers"):
        registry.build(["nope"])


class NeedsWeights:
    name: ClassVar[str] = "needs_weights"

    def __init__(self) -> None:
        raise AnalyzerUnavailable("no weights at /nowhere")


def test_a_failing_analyzer_is_reported_and_the_others_finish(media):
    path = media.get("no_audio")
    selection = registry.build(["black"])
    selection.video.insert(0, Broken())
    result = run_pass(path, probe_file(path, Limits()), selection)
    assert result.understanding.analyzers["broken"] == "failed: RuntimeError: boom"
    assert result.understanding.analyzers["black"] == "ok" and "black" in result.analysis.results


def test_stop_request_ends_the_decoders_and_raises(media):
    path = media.get("h264_720p")
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 20

    with pytest.raises(JobCancelledError):
        run_pass(path, probe_file(path, Limits()), registry.build(["black", "silence"]), should_stop=should_stop)
    for thread in threading.enumerate():
        if thread.name.startswith("analysis-"):
            thread.join(timeout=5)
            assert not thread.is_alive(), thread.name
