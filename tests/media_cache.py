"""Sample media for tests, generated once into a cache directory and reused across sessions.

`MediaCache(root).get("name")` builds the file on first use (under a lock-free temp name, then
renamed, so concurrent sessions never see half-written files). Bump `VERSION` when a recipe
changes. Everything is synthetic (FFmpeg lavfi sources), nothing is downloaded.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from vidpipe.ffmpeg import samples
from vidpipe.ffmpeg.process import run_ffmpeg

VERSION = "1"


def _black_then_scenes(path: Path) -> Path:
    """3 s of black, then 3 s of bright test pattern: the poster must not be black."""
    graph = ("color=c=black:s=640x360:r=25:d=3,format=yuv420p[a];"
             "testsrc2=s=640x360:r=25:d=3,format=yuv420p[b];[a][b]concat=n=2:v=1:a=0[v]")
    run_ffmpeg(["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                "-pix_fmt", "yuv420p", str(path)])
    return path


def _many_streams(path: Path, count: int = 18) -> Path:
    """A Matroska file with more audio streams than the default limit allows."""
    args = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=1"]
    for _ in range(count):
        args += ["-map", "0:a"]
    run_ffmpeg([*args, "-c:a", "pcm_s16le", str(path)])
    return path


def _huge_header(path: Path, claimed: int = 30000) -> Path:
    """Matroska rawvideo whose header claims claimed x claimed frames (the packets are 64x64).

    FFmpeg writes PixelWidth/PixelHeight (EBML ids 0xB0/0xBA) as 2-byte integers for 256..65535,
    so patching 256 -> claimed keeps the file valid.
    """
    tmp = path.with_name(path.stem + ".src.mkv")
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=256x256:r=5:d=0.4", "-c:v", "rawvideo", "-pix_fmt", "gray",
                str(tmp)])
    data = tmp.read_bytes()
    tmp.unlink()
    value = claimed.to_bytes(2, "big")
    for element in (b"\xb0", b"\xba"):
        old = element + b"\x82\x01\x00"
        assert data.count(old) == 1, "unexpected Matroska layout"
        data = data.replace(old, element + b"\x82" + value)
    path.write_bytes(data)
    return path


def _mjpeg_single_frame_mkv(path: Path) -> Path:
    """One JPEG picture in a Matroska container: a still image in a video container."""
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x240:d=1", "-frames:v", "1", "-c:v", "mjpeg", str(path)])
    return path


def _with_chapters(path: Path) -> Path:
    """A short Matroska clip with two titled chapters."""
    src = samples.make_video(path.with_name("chapters-src.mp4"), width=320, height=180, seconds=4.0)
    meta = path.with_name("chapters.txt")
    meta.write_text(";FFMETADATA1\ntitle=Chapter test\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=2000\ntitle=Opening\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=2000\nEND=4000\ntitle=Credits\n")
    run_ffmpeg(["-i", str(src), "-i", str(meta), "-map", "0", "-map_metadata", "1", "-map_chapters", "1",
                "-c", "copy", str(path)])
    return path


def _remux(source: Path, path: Path) -> Path:
    run_ffmpeg(["-i", str(source), "-map", "0", "-c", "copy", str(path)])
    return path


def _hdr(path: Path, transfer: str) -> Path:
    """10-bit H.264 tagged BT.2020 with a PQ (smpte2084) or HLG (arib-std-b67) transfer."""
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p10le", "-x264-params", f"transfer={transfer}:colorprim=bt2020:colormatrix=bt2020nc",
                str(path)])
    return path


def _black_middle(path: Path) -> Path:
    """testsrc2 0-1 s, black 1-2.5 s, smptebars 2.5-4 s (25 fps, no audio): a black segment at a known range."""
    graph = ("testsrc2=s=320x180:r=25:d=1,format=yuv420p[a];color=c=black:s=320x180:r=25:d=1.5,format=yuv420p[b];"
             "smptebars=s=320x180:r=25:d=1.5,format=yuv420p[c];[a][b][c]concat=n=3:v=1:a=0[v]")
    run_ffmpeg(["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                "-pix_fmt", "yuv420p", str(path)])
    return path


def _other_sources(path: Path) -> Path:
    """A 4 s clip of sources make_video does not start with (mandelbrot, then rgbtestsrc): "a different video"."""
    graph = ("mandelbrot=s=320x180:r=25,trim=duration=2,setpts=PTS-STARTPTS,format=yuv420p[a];"
             "rgbtestsrc=s=320x180:r=25,trim=duration=2,setpts=PTS-STARTPTS,format=yuv420p[b];"
             "[a][b]concat=n=2:v=1:a=0[v]")
    run_ffmpeg(["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", str(path)])
    return path


def _reencoded(name: str, path: Path, width: int, crf: int) -> Path:
    """`name` re-encoded smaller and at a lower quality (a near-duplicate)."""
    source = MediaCache(path.parent.parent.parent).get(name)  # the cache this file is being built in
    run_ffmpeg(["-i", str(source), "-vf", f"scale={width}:-2", "-c:v", "libx264", "-preset", "ultrafast", "-crf",
                str(crf), "-c:a", "aac", "-b:a", "64k", str(path)])
    return path


def _cuts_clip(path: Path, *, width: int, height: int, seconds: float, fps: float, scene_seconds: float) -> Path:
    return samples.make_video(path, width=width, height=height, seconds=seconds, fps=fps,
                              scene_seconds=scene_seconds, audio=False, gop_seconds=2.0)


RECIPES: dict[str, tuple[str, Callable[[Path], Path]]] = {
    # name: (file name, builder)
    "h264_1080p": ("h264-1080p-cuts.mp4", lambda p: samples.make_video(p, width=1920, height=1080, seconds=4.0,
                                                                       scene_seconds=1.0, gop_seconds=1.0)),
    "h264_720p": ("h264-720p.mp4", lambda p: samples.make_video(p, width=1280, height=720, seconds=6.0)),
    "small_360p": ("small-360p.mp4", lambda p: samples.make_video(p, width=640, height=360, seconds=3.0)),
    "long_gop": ("long-gop.mp4", lambda p: samples.make_video(p, width=320, height=180, seconds=6.0,
                                                              gop_seconds=6.0, audio=False)),
    "portrait_rot90": ("portrait-rot90.mp4", lambda p: samples.make_video(p, width=640, height=360, seconds=3.0,
                                                                          rotation=90)),
    "multi_audio_mkv": ("multi-audio.mkv", lambda p: samples.make_video(p, width=320, height=180, seconds=2.0,
                                                                        audio_languages=("eng", "fra", "deu"))),
    "vfr": ("vfr.mp4", lambda p: samples.make_video(p, width=320, height=180, seconds=4.0, vfr=True)),
    "no_audio": ("no-audio.mp4", lambda p: samples.make_video(p, width=320, height=180, seconds=2.0, audio=False)),
    "mp3": ("tone.mp3", lambda p: samples.make_audio(p, seconds=3.0)),
    "wav": ("tone.wav", lambda p: samples.make_audio(p, seconds=2.0)),
    "flac": ("tone.flac", lambda p: samples.make_audio(p, seconds=2.0)),
    "black_start": ("black-start.mp4", _black_then_scenes),
    "still_png": ("still.png", lambda p: samples.make_still_image(p)),
    "still_jpeg": ("still.jpg", lambda p: samples.make_still_image(p)),
    "still_mkv": ("still-mjpeg.mkv", _mjpeg_single_frame_mkv),
    "random_mp4": ("random.mp4", lambda p: samples.make_random_bytes(p)),
    "many_streams": ("many-streams.mkv", _many_streams),
    "chapters_mkv": ("chapters.mkv", _with_chapters),
    "hdr_pq": ("hdr-pq.mp4", lambda p: _hdr(p, "smpte2084")),
    "hdr_hlg": ("hdr-hlg.mkv", lambda p: _hdr(p, "arib-std-b67")),
    "mkv_6s": ("six-seconds.mkv", lambda p: samples.make_video(p, width=320, height=180, seconds=6.0)),
    "mpegts": ("small.ts", lambda p: _remux(samples.make_video(p.with_suffix(".mp4"), width=320, height=180,
                                                                   seconds=6.0), p)),
    "huge_header": ("huge-30000.mkv", _huge_header),
    "huge_16k_header": ("huge-16000.mkv", lambda p: _huge_header(p, 16000)),
    # analysis (tests/unit/test_analysis_*.py)
    "black_middle": ("black-middle.mp4", _black_middle),
    "other_sources": ("other-sources.mp4", _other_sources),
    "small_360p_reencoded": ("small-360p-reencoded.mp4", lambda p: _reencoded("small_360p", p, 320, 34)),
    "cuts_30fps": ("cuts-30fps.mp4", lambda p: _cuts_clip(p, width=320, height=180, seconds=8.0, fps=30,
                                                          scene_seconds=1.0)),
    "cuts_25fps": ("cuts-25fps.mp4", lambda p: _cuts_clip(p, width=480, height=270, seconds=9.6, fps=25,
                                                          scene_seconds=1.2)),
    "cuts_24fps_short": ("cuts-24fps-short.mp4", lambda p: _cuts_clip(p, width=426, height=240, seconds=6.0,
                                                                      fps=24, scene_seconds=0.75)),
}


class MediaCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root) / f"v{VERSION}"
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> Path:
        filename, build = RECIPES[name]
        path = self.root / filename
        if not path.exists():
            with tempfile.TemporaryDirectory(dir=self.root) as tmp:
                built = build(Path(tmp) / filename)
                os.replace(built, path)
        return path

    def truncated(self, name: str = "h264_720p", keep_fraction: float = 0.3) -> Path:
        path = self.root / f"truncated-{int(keep_fraction * 100)}-{RECIPES[name][0]}"
        if not path.exists():
            tmp = path.with_name(path.name + ".part")
            samples.make_truncated(self.get(name), tmp, keep_fraction=keep_fraction)
            os.replace(tmp, path)
        return path


def default_cache_dir() -> Path:
    env = os.environ.get("VIDPIPE_TEST_MEDIA_CACHE")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / "vidpipe-test-media"
