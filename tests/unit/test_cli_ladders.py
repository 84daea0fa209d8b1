"""The demo's ladder lines: each rung's bandwidth and sampled VMAF, and whether the ladder is per-title."""

from __future__ import annotations

from types import SimpleNamespace

from vidpipe.api.schemas import RenditionPublic, RenditionQuality
from vidpipe.cli.common import ladder_lines


def _video(name: str, bandwidth: int, quality: RenditionQuality | None) -> RenditionPublic:
    return RenditionPublic(name=name, kind="video", width=None, height=None, bandwidth=bandwidth, codecs=None,
                           language=None, quality=quality, url=f"/{name}/index.m3u8")


def test_a_per_title_ladder_says_what_each_rung_shows() -> None:
    one_rung = SimpleNamespace(original_name="feature.mp4", renditions=[
        _video("1080p", 1_449_856, RenditionQuality(vmaf=93.08, target_vmaf=93.0, meets_target=True,
                                                    sampled_seconds=1.5))])
    grain = SimpleNamespace(original_name="grain.mp4", renditions=[
        _video("720p", 3_100_000, RenditionQuality(vmaf=71.3, target_vmaf=93.0, meets_target=False,
                                                   sampled_seconds=1.5)),
        _video("360p", 900_000, RenditionQuality(vmaf=67.1, target_vmaf=93.0, sampled_seconds=1.5))])
    fixed = SimpleNamespace(original_name="fixed.mp4", renditions=[_video("360p", 900_000, None)])
    audio = SimpleNamespace(original_name="talk.mp3", renditions=[RenditionPublic(
        name="audio", kind="audio", width=None, height=None, bandwidth=130_000, codecs=None, language=None,
        url="/audio/index.m3u8")])
    assert ladder_lines([one_rung, grain, fixed, audio]) == [
        "feature.mp4: 1080p 1.4 Mb/s VMAF 93.1 (per-title, target VMAF 93)",
        "grain.mp4: 720p 3.1 Mb/s VMAF 71.3 (missed), 360p 0.9 Mb/s VMAF 67.1 (per-title, target VMAF 93)",
        "fixed.mp4: 360p 0.9 Mb/s (fixed ladder)",
    ]
