"""The thumbnails stage: a poster (a representative, non-black frame) and WebVTT scrub sprites.

Only key frames are decoded (see vidpipe.ffmpeg.frames): each sample time shows the key frame at
or before it. When the source's GOP is longer than the sprite interval, neighbouring tiles show
the same key frame (decoded once); every interval still gets its tile and cue.

Pure core: scoring, choosing, tiling and the VTT text work on numpy arrays, PIL images and
numbers. The shell (`run`) does the PyAV I/O.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vidpipe.contract import Output, StageInput, StageResult
from vidpipe.errors import JobCancelledError
from vidpipe.ffmpeg import frames
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.ffmpeg.safe_open import open_input
from vidpipe.webvtt import vtt_timestamp

POSTER_MAX_WIDTH = 1280
POSTER_MAX_HEIGHT = 1280
# Where poster candidates are taken, as fractions of the duration; 10-30 % in is preferred.
POSTER_FRACTIONS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8)
PREFERRED_SPAN = (0.1, 0.3)
_BLACK_MEAN = 24.0
_FLAT_STD = 6.0
_WHITE_MEAN = 240.0


# --- pure core ---------------------------------------------------------------------------------
def frame_score(gray: np.ndarray) -> float:
    """How good a poster a luma image makes: 0 for black, white or flat; higher for bright, contrasty, detailed."""
    values = gray.astype(np.float32)
    mean, std = float(values.mean()), float(values.std())
    if mean < _BLACK_MEAN or mean > _WHITE_MEAN or std < _FLAT_STD:
        return 0.0
    hist = np.bincount(gray.reshape(-1) >> 2, minlength=64).astype(np.float64)
    p = hist[hist > 0] / hist.sum()
    entropy = float(-(p * np.log2(p)).sum())  # 0..6 bits over 64 bins
    exposure = 1.0 - abs(mean - 128.0) / 128.0  # mid-tones beat near-black and near-white
    return entropy / 6.0 + min(std, 80.0) / 80.0 + 0.5 * exposure


def choose_poster(candidates: Sequence[tuple[float, float]], duration: float) -> int:
    """Index of the best (time, score) candidate: non-black first, a bonus for 10-30 % in."""
    if not candidates:
        raise ValueError("no poster candidates")

    def weighted(item: tuple[int, tuple[float, float]]) -> tuple[bool, float]:
        _, (time, score) = item
        position = time / duration if duration > 0 else 0.0
        bonus = 1.15 if PREFERRED_SPAN[0] <= position <= PREFERRED_SPAN[1] else 1.0
        return score > 0, score * bonus

    return max(enumerate(candidates), key=weighted)[0]


SHORT_VIDEO_TILE_SECONDS = 2.0  # short videos: a tile at least every 2 s, so a preview is never a cut away
MAX_SPRITE_TILES = 300  # long videos: at most this many tiles (the interval grows with the length)


def sprite_interval(duration: float, configured: float) -> float:
    """Seconds between tiles: the profile's interval, at most 2 s, widened so no video gets more than 300 tiles."""
    return max(min(configured, SHORT_VIDEO_TILE_SECONDS), duration / MAX_SPRITE_TILES)


def sprite_times(duration: float, interval: float) -> list[float]:
    """One tile per interval: 0, interval, 2*interval, ... (at least one; no tile for a last sliver under 2 %)."""
    count = max(1, math.ceil(duration / interval - 0.02))
    return [round(i * interval, 3) for i in range(count)]


def poster_times(duration: float) -> list[float]:
    return [round(duration * f, 3) for f in POSTER_FRACTIONS]


def sheet_layout(count: int, columns: int, rows: int) -> list[tuple[int, int, int]]:
    """(sheet, column, row) of each tile, filling sheets row by row."""
    per_sheet = columns * rows
    return [(i // per_sheet, i % per_sheet % columns, i % per_sheet // columns) for i in range(count)]


def build_sheets(tiles: Sequence[Image.Image], columns: int, rows: int) -> list[Image.Image]:
    """Paste equally sized tiles into grids; the last sheet is cropped to the rows it uses."""
    if not tiles:
        return []
    tile_w, tile_h = tiles[0].size
    layout = sheet_layout(len(tiles), columns, rows)
    sheets: list[Image.Image] = []
    for sheet in range(layout[-1][0] + 1):
        members = [i for i, (s, _, _) in enumerate(layout) if s == sheet]
        used_cols = min(columns, len(members))
        used_rows = math.ceil(len(members) / columns)
        canvas = Image.new("RGB", (used_cols * tile_w, used_rows * tile_h))
        for i in members:
            _, col, row = layout[i]
            canvas.paste(tiles[i], (col * tile_w, row * tile_h))
        sheets.append(canvas)
    return sheets


def sheet_name(index: int) -> str:
    return f"sprite-{index:03d}.jpg"


def sprite_vtt(times: Sequence[float], duration: float, tile_w: int, tile_h: int, columns: int, rows: int) -> str:
    """WebVTT scrub-preview track: one cue per tile, `sprite-NNN.jpg#xywh=x,y,w,h`."""
    lines = ["WEBVTT", ""]
    for i, (sheet, col, row) in enumerate(sheet_layout(len(times), columns, rows)):
        start = times[i]
        end = times[i + 1] if i + 1 < len(times) else max(duration, start + 0.001)
        lines += [f"{vtt_timestamp(start)} --> {vtt_timestamp(end)}",
                  f"{sheet_name(sheet)}#xywh={col * tile_w},{row * tile_h},{tile_w},{tile_h}", ""]
    return "\n".join(lines)


def group_by_keyframe(times: Sequence[float], keyframe_times: Sequence[float]) -> dict[float, list[int]]:
    """Map each key frame time (the last one at or before a requested time) to the requests it serves.

    Without an index (`keyframe_times` empty) every request is its own group.
    """
    groups: dict[float, list[int]] = {}
    for i, t in enumerate(times):
        if keyframe_times:
            pos = bisect.bisect_right(keyframe_times, t + 1e-6) - 1
            key = keyframe_times[max(0, pos)]
        else:
            key = t
        groups.setdefault(key, []).append(i)
    return groups


# --- shell -------------------------------------------------------------------------------------
def run(inp: StageInput) -> StageResult:
    probe = inp.probe or probe_file(inp.source_path, inp.limits)
    if not probe["has_video"]:
        return StageResult()  # audio-only: the transcode stage draws the waveform
    video_info = next(s for s in probe["streams"] if s["type"] == "video" and not s.get("cover_art"))
    duration = float(probe["duration"])
    rotation = int(probe["rotation"])
    profile = inp.profile

    tile_times = sprite_times(duration, sprite_interval(duration, profile.sprite_interval_seconds))
    cand_times = poster_times(duration)
    requests = tile_times + cand_times
    out_dir = inp.work_dir / "thumbs"
    out_dir.mkdir(parents=True, exist_ok=True)

    with open_input(inp.source_path, max_frame_pixels=inp.limits.max_frame_pixels) as container:
        stream = container.streams[video_info["index"]]
        frames.prepare_keyframe_decoding(stream)
        scaler = frames.Scaler()
        sar = float(stream.sample_aspect_ratio or 1) or 1.0
        tile_w, tile_h = frames.display_dimensions(stream.codec_context.width, stream.codec_context.height, sar,
                                                   rotation, profile.sprite_tile_width)
        poster_w, poster_h = _poster_size(stream.codec_context.width, stream.codec_context.height, sar, rotation)

        tiles: list[Image.Image | None] = [None] * len(tile_times)
        candidates: list[tuple[float, float, Any]] = []  # (time, score, frame)
        groups = group_by_keyframe(requests, _index_keyframe_times(stream))
        for done, (_, members) in enumerate(sorted(groups.items())):
            if inp.should_stop():
                raise JobCancelledError("thumbnails stopped on request")
            frame = frames.keyframe_at(container, stream, requests[members[0]])
            if frame is not None:
                tile = None
                for i in members:
                    if i < len(tile_times):
                        tile = tile or frames.to_display_image(frame, tile_w, tile_h, rotation, scaler)
                        tiles[i] = tile
                    elif not any(c[2] is frame for c in candidates):
                        score = frame_score(frames.to_gray_small(frame, scaler=scaler))
                        candidates.append((frames.frame_time(frame, stream), score, frame))
            inp.progress(0.9 * (done + 1) / len(groups))

        if not candidates and all(t is None for t in tiles):
            return StageResult()
        filled = _fill_gaps(tiles, tile_w, tile_h)
        outputs = _write_sprites(out_dir, filled, tile_times, duration, tile_w, tile_h, profile)
        if candidates:
            best = candidates[choose_poster([(t, s) for t, s, _ in candidates], duration)][2]
            poster = frames.to_display_image(best, poster_w, poster_h, rotation)
        else:
            poster = filled[len(filled) // 2]
        poster_path = out_dir / "poster.jpg"
        poster.save(poster_path, "JPEG", quality=85, optimize=True)
    inp.progress(1.0)
    return StageResult(outputs=[Output("thumbs/poster.jpg", poster_path, "poster", "image/jpeg"), *outputs],
                       metadata={"thumbnails": {"poster": {"width": poster.width, "height": poster.height},
                                                "tile": {"width": tile_w, "height": tile_h},
                                                "tiles": len(tile_times), "sheets": len(outputs) - 1}})


def _poster_size(width: int, height: int, sar: float, rotation: int) -> tuple[int, int]:
    display_w, display_h = width * sar, height
    if rotation in (90, 270):
        display_w, display_h = display_h, display_w
    scale = min(1.0, POSTER_MAX_WIDTH / display_w, POSTER_MAX_HEIGHT / display_h)
    return frames.display_dimensions(width, height, sar, rotation, max(2, round(display_w * scale / 2) * 2))


def _index_keyframe_times(stream) -> list[float]:
    entries = stream.index_entries
    tb, start = stream.time_base, stream.start_time or 0
    times = [float((entries[i].timestamp - start) * tb) for i in range(len(entries)) if entries[i].is_keyframe]
    return sorted(times)


def _fill_gaps(tiles: list[Image.Image | None], tile_w: int, tile_h: int) -> list[Image.Image]:
    # A seek past the last key frame can come back empty: repeat the previous tile (or a grey one).
    filled: list[Image.Image] = []
    for tile in tiles:
        filled.append(tile or (filled[-1] if filled else Image.new("RGB", (tile_w, tile_h), (16, 16, 16))))
    return filled


def _write_sprites(out_dir: Path, tiles: list[Image.Image], times: list[float], duration: float, tile_w: int,
                   tile_h: int, profile) -> list[Output]:
    outputs: list[Output] = []
    for n, sheet in enumerate(build_sheets(tiles, profile.sprite_columns, profile.sprite_rows)):
        path = out_dir / sheet_name(n)
        sheet.save(path, "JPEG", quality=75, optimize=True)
        outputs.append(Output(f"thumbs/{sheet_name(n)}", path, "sprite", "image/jpeg"))
    vtt_path = out_dir / "sprites.vtt"
    vtt_path.write_text(sprite_vtt(times, duration, tile_w, tile_h, profile.sprite_columns, profile.sprite_rows),
                        encoding="utf-8")
    outputs.append(Output("thumbs/sprites.vtt", vtt_path, "sprite_vtt", "text/vtt"))
    return outputs
