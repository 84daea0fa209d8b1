"""Cut detection quality on generated clips with hard cuts at known frames, through the real decode."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from vidpipe.analysis import registry
from vidpipe.analysis.pipeline import run_pass
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.settings import Limits

# recipe -> (fps, scene seconds, duration): samples.make_video cuts between 8 different lavfi sources
# (testsrc2, smptebars, mandelbrot, rgbtestsrc, cellauto, life, yuvtestsrc, pal100bars).
CLIPS = {"cuts_30fps": (30, 1.0, 8.0), "cuts_25fps": (25, 1.2, 9.6), "cuts_24fps_short": (24, 0.75, 6.0),
         "h264_1080p": (30, 1.0, 4.0)}


def precision_recall(found: list[int], truth: list[int], tolerance: int = 1) -> tuple[float, float]:
    """Greedy one-to-one matching of frame numbers within +-tolerance."""
    unmatched = list(truth)
    hits = 0
    for f in found:
        match = next((t for t in unmatched if abs(t - f) <= tolerance), None)
        if match is not None:
            unmatched.remove(match)
            hits += 1
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    return precision, recall


def test_precision_recall_helper():
    assert precision_recall([10, 21, 40], [10, 20, 30]) == (2 / 3, 2 / 3)
    assert precision_recall([], []) == (1.0, 1.0)


def test_cuts_at_known_frames_precision_and_recall(media):
    found_all: list[int] = []
    truth_all: list[int] = []
    per_clip = {}
    for k, (name, (fps, scene, duration)) in enumerate(CLIPS.items()):
        path = media.get(name)
        result = run_pass(path, probe_file(path, Limits()), registry.build(["scenes"]))
        cuts = result.analysis.results["scenes"].metrics["cuts"]
        found = [round(t * fps) for t in cuts]
        truth = [round(i * scene * fps) for i in range(1, round(duration / scene))]
        per_clip[name] = precision_recall(found, truth)
        offset = 100_000 * k  # keep clips apart in the pooled figures
        found_all += [f + offset for f in found]
        truth_all += [t + offset for t in truth]
    precision, recall = precision_recall(found_all, truth_all)
    print(f"\ncut detection (+-1 frame): precision {precision:.3f}, recall {recall:.3f} over {len(truth_all)} cuts; "
          f"per clip {per_clip}")
    assert precision >= 0.95 and recall >= 0.95


def test_every_scene_gets_a_sharp_non_black_keyframe(media):
    path = media.get("black_start")  # 3 s black, then 3 s test pattern
    result = run_pass(path, probe_file(path, Limits()), registry.build(["scenes"]))
    scenes = result.analysis.segments_of("scene")
    assert [(s.start, s.end) for s in scenes] == [(0.0, 3.0), (3.0, 6.0)]
    black_scene, bright_scene = scenes
    assert black_scene.keyframe_key is None or black_scene.score == 0.0
    assert bright_scene.keyframe_key == "analysis/scene-002.jpg" and bright_scene.score > 1.0
    jpeg = next(o for o in result.outputs if o.key == bright_scene.keyframe_key)
    image = Image.open(io.BytesIO(jpeg.data))
    assert image.size == (398, 224) and max(image.convert("L").getextrema()) > 200
    assert result.analysis.keyframes[bright_scene.keyframe_key].shape == (224, 398, 3)


@pytest.mark.parametrize("threshold", [27.0])
def test_a_single_shot_has_no_cuts(media, threshold):
    path = media.get("no_audio")  # one 2 s testsrc2 scene
    selection = registry.build(["scenes"], {"scenes": {"threshold": threshold}})
    result = run_pass(path, probe_file(path, Limits()), selection)
    assert [(s.start, s.end) for s in result.analysis.segments_of("scene")] == [(0.0, 2.0)]
