"""Synthetic sample media from FFmpeg's lavfi sources: for the demo, tests and benchmarks.

Nothing is downloaded. Each function writes one file and returns its path.
"""

from __future__ import annotations

import os
from pathlib import Path

from vidpipe.ffmpeg.process import ensure_parent, run_ffmpeg

# Visually distinct sources, so every boundary between them is a hard cut.
_SCENES = ("testsrc2", "smptebars", "mandelbrot", "rgbtestsrc", "cellauto", "life", "yuvtestsrc", "pal100bars")


def _scene_filter(index: int, width: int, height: int, fps: float, seconds: float) -> str:
    name = _SCENES[index % len(_SCENES)]
    size = f"s={width}x{height}:" if name not in ("cellauto", "life") else f"s={width // 4}x{height // 4}:"
    scale = f",scale={width}:{height}:flags=neighbor" if name in ("cellauto", "life") else ""
    # Not every source takes a duration option; trim does the same for all of them.
    return f"{name}={size}r={fps}{scale},trim=duration={seconds},setpts=PTS-STARTPTS,format=yuv420p,setsar=1"


def make_video(path: Path, *, width: int = 1280, height: int = 720, seconds: float = 6.0, fps: float = 30,
               scene_seconds: float = 2.0, audio: bool = True, audio_languages: tuple[str, ...] = ("eng",),
               rotation: int = 0, gop_seconds: float = 2.0, vfr: bool = False,
               preset: str = "ultrafast") -> Path:
    """H.264 (+AAC) clip made of hard-cut scenes; optional display rotation, extra audio tracks, VFR."""
    scenes = max(1, round(seconds / scene_seconds))
    parts = [_scene_filter(i, width, height, fps, seconds / scenes) for i in range(scenes)]
    graph = ";".join(f"{p}[v{i}]" for i, p in enumerate(parts))
    graph += ";" + "".join(f"[v{i}]" for i in range(scenes)) + f"concat=n={scenes}:v=1:a=0[vout]"
    if vfr:  # drop frames irregularly so timestamps are uneven
        graph += ";[vout]select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,11)\\,5))'[vsel]"
    args: list[str] = ["-filter_complex", graph, "-map", "[vsel]" if vfr else "[vout]"]
    inputs: list[str] = []
    if audio:
        for i, _lang in enumerate(audio_languages):
            inputs += ["-f", "lavfi", "-i", f"sine=frequency={440 + 220 * i}:sample_rate=48000:duration={seconds}"]
            args += ["-map", f"{i}:a"]
    args += ["-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", "-g", str(int(gop_seconds * fps))]
    args += ["-fps_mode", "vfr"] if vfr else ["-r", str(fps)]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
        for i, lang in enumerate(audio_languages):
            args += [f"-metadata:s:a:{i}", f"language={lang}"]
    out = ensure_parent(Path(path))
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    run_ffmpeg([*inputs, *args, "-movflags", "+faststart", "-t", str(seconds), str(tmp)])
    if rotation:  # display matrix is attached on a stream copy
        run_ffmpeg(["-display_rotation:v:0", str(rotation), "-i", str(tmp), "-map", "0", "-c", "copy", str(out)])
        tmp.unlink()
    else:
        os.replace(tmp, out)
    return out


def make_audio(path: Path, *, seconds: float = 5.0, sample_rate: int = 44100) -> Path:
    """Audio-only file; the codec follows the suffix (.mp3, .wav, .flac, .m4a, .ogg)."""
    out = ensure_parent(Path(path))
    source = f"sine=frequency=330:sample_rate={sample_rate}:duration={seconds}"
    tremolo = "tremolo=f=2:d=0.8"  # make the waveform peaks vary
    codec = {".mp3": ["-c:a", "libmp3lame"], ".m4a": ["-c:a", "aac"], ".ogg": ["-c:a", "libopus"]}.get(
        out.suffix.lower(), [])
    run_ffmpeg(["-f", "lavfi", "-i", source, "-af", tremolo, "-ac", "2", *codec, str(out)])
    return out


def make_still_image(path: Path, *, width: int = 640, height: int = 360) -> Path:
    out = ensure_parent(Path(path))
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:d=1", "-frames:v", "1", str(out)])
    return out


def make_random_bytes(path: Path, *, size: int = 256 * 1024, seed: int = 7) -> Path:
    """Random bytes under a media name: the classic "corrupt upload"."""
    import random

    out = ensure_parent(Path(path))
    out.write_bytes(random.Random(seed).randbytes(size))
    return out


def make_truncated(source: Path, path: Path, *, keep_fraction: float = 0.3) -> Path:
    """The first part of a real file, as an interrupted upload leaves it."""
    data = Path(source).read_bytes()
    out = ensure_parent(Path(path))
    out.write_bytes(data[: int(len(data) * keep_fraction)])
    return out


def demo_set(dest: Path, *, long_seconds: float = 12.0) -> list[Path]:
    """The files `vidpipe demo` ingests: four good ones and a corrupt one."""
    dest = Path(dest)
    return [
        make_video(dest / "feature-1080p-cuts.mp4", width=1920, height=1080, seconds=long_seconds, scene_seconds=2.0),
        make_video(dest / "trailer-720p.mp4", width=1280, height=720, seconds=6.0),
        make_audio(dest / "podcast-clip.mp3", seconds=8.0),
        make_video(dest / "phone-portrait.mp4", width=1280, height=720, seconds=4.0, rotation=90),
        make_random_bytes(dest / "corrupt-upload.mp4"),
    ]
