"""Key-frame access with PyAV: seek to a time and take the key frame at or before it.

Decoding only key frames (`skip_frame = "NONKEY"`) is ~10x cheaper than a full decode, which is
what makes posters and scrub sprites cheap. The price: the picture shown for time t is the key
frame at or before t, so with a GOP longer than the sampling interval neighbouring samples may
repeat a picture.
"""

from __future__ import annotations

import av
import av.container
import av.stream
import av.video.frame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream
from PIL import Image

from vidpipe.errors import MediaDecodeError
from vidpipe.ffmpeg.avtypes import time_base

_UNINDEXED = ("mpegts", "mpeg")  # MPEG-TS and program streams: timestamps but no index


def prepare_keyframe_decoding(stream: VideoStream, thread_type: str = "SLICE") -> None:
    """Decode key frames only. SLICE, not AUTO threading: every seek flushes the decoder, and frame
    threads must refill before the first picture comes out; measured on the 60 s 1080p bench clip,
    15 seek+decode rounds cost ~0.23 s CPU / 0.32-0.6 s wall with SLICE vs ~0.25-0.36 s / 0.5-1.0 s with AUTO."""
    cc = stream.codec_context
    cc.skip_frame = "NONKEY"
    cc.thread_type = thread_type


def keyframe_at(container: av.container.InputContainer, stream: VideoStream, seconds: float,
                *, retries: int = 3) -> av.video.frame.VideoFrame | None:
    """The key frame at or before `seconds` (from the stream start), or the nearest one we can find.

    Demuxers without an index (MPEG-TS/PS) may land on the next key frame instead of the previous
    one; then we seek again a little earlier (1 s, 2 s, 4 s back).
    """
    best: av.video.frame.VideoFrame | None = None
    target, step = max(0.0, seconds), 1.0
    for _ in range(retries + 1):
        frame = _first_frame_after_seek(container, stream, target)
        if frame is not None:
            if frame_time(frame, stream) <= seconds + 0.25:
                return frame
            if best is None or frame_time(frame, stream) < frame_time(best, stream):
                best = frame
        if target <= 0:
            break
        target, step = max(0.0, target - step), step * 2
    return best


def _first_frame_after_seek(container: av.container.InputContainer, stream: VideoStream,
                            seconds: float) -> av.video.frame.VideoFrame | None:
    offset = (stream.start_time or 0) + int(seconds / time_base(stream))
    try:
        if seconds <= 0 and container.format.name in _UNINDEXED:
            # Without an index, a time seek to the very start lands on the packet after the first key frame.
            container.seek(0, backward=True, any_frame=False, unsupported_byte_offset=True)
        else:
            container.seek(offset, stream=stream, backward=True, any_frame=False)
        for packet in container.demux(stream):
            for frame in packet.decode():  # the final empty packet flushes the decoder
                return frame
            if packet.is_keyframe and packet.size:
                # With B-frames (or frame threads) the decoder holds the picture back until later frames arrive,
                # and NONKEY skips them all: drain it now instead of reading the rest of a long GOP.
                held = stream.codec_context.decode(None)
                stream.codec_context.flush_buffers()
                if held:
                    return held[0]
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"could not decode a picture near {seconds:.1f} s: "
                               f"{getattr(exc, 'strerror', exc)}") from exc
    return None


def frame_time(frame: av.video.frame.VideoFrame, stream: av.stream.Stream) -> float:
    """Seconds from the start of the stream (MPEG-TS streams rarely start at 0)."""
    if frame.pts is None:
        return 0.0
    return float((frame.pts - (stream.start_time or 0)) * time_base(stream))


def display_dimensions(width: int, height: int, sar: float, rotation: int, target_width: int) -> tuple[int, int]:
    """(width, height) of a picture shown `target_width` wide: sample aspect and display rotation applied."""
    display_w, display_h = width * (sar or 1.0), height
    if rotation in (90, 270):
        display_w, display_h = display_h, display_w
    out_h = max(2, round(target_width * display_h / display_w / 2) * 2)
    return target_width, out_h


class Scaler:
    """Scales frames with one cached swscale context per output size and format.

    `VideoFrame.reformat()` builds a new context for every frame, which costs more than scaling
    a 1080p frame down to a thumbnail; a shared VideoReformatter per target reuses it.
    """

    def __init__(self) -> None:
        self._reformatters: dict[tuple[int, int, str], VideoReformatter] = {}

    def scale(self, frame: av.video.frame.VideoFrame, width: int, height: int,
              format: str) -> av.video.frame.VideoFrame:
        reformatter = self._reformatters.setdefault((width, height, format), VideoReformatter())
        return reformatter.reformat(frame, width=width, height=height, format=format, interpolation="AREA")


def to_display_image(frame: av.video.frame.VideoFrame, width: int, height: int, rotation: int,
                     scaler: Scaler | None = None) -> Image.Image:
    """Scale a decoded frame so that, after display rotation, it is width x height; return it upright (RGB)."""
    scaled_w, scaled_h = (height, width) if rotation in (90, 270) else (width, height)
    image = (scaler or Scaler()).scale(frame, scaled_w, scaled_h, "rgb24").to_image()
    if rotation:
        # FFmpeg's display matrix angle is counter-clockwise, as is PIL's rotate().
        image = image.rotate(rotation, expand=True)
    return image


def to_gray_small(frame: av.video.frame.VideoFrame, width: int = 96, scaler: Scaler | None = None):
    """A small luma array for scoring (numpy, uint8)."""
    height = max(2, round(width * frame.height / max(1, frame.width) / 2) * 2)
    return (scaler or Scaler()).scale(frame, width, height, "gray").to_ndarray()
