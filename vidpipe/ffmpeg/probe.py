"""What is in a media file: container, streams, duration, display size, rotation, VFR, HDR.

Reads the container header, the index and the first few packets; decodes at most one key frame
per primary stream (to learn the display rotation and to prove the file decodes). The result is a
plain JSON-serialisable dict whose top-level keys other stages rely on (see `PROBE_KEYS`).
"""

from __future__ import annotations

import statistics
import struct
import time
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import av.container
import av.stream
from av.audio.stream import AudioStream
from av.sidedata.sidedata import Type as SideDataType
from av.video.stream import VideoStream

from vidpipe.errors import LimitExceededError, MediaDecodeError, UnsupportedMediaError
from vidpipe.ffmpeg.avtypes import side_data, time_base
from vidpipe.ffmpeg.safe_open import demuxer_name, open_input
from vidpipe.settings import Limits

if TYPE_CHECKING:
    from av.container.core import Chapter  # a TypedDict of the stubs only

PROBE_KEYS = ("format", "format_long", "duration", "bit_rate", "size", "has_video", "has_audio", "width", "height",
              "rotation", "video_codec", "audio_codec", "fps", "is_vfr", "interlaced", "hdr", "streams", "chapters",
              "tags")

# AVColorTransferCharacteristic values worth naming; PQ and HLG are HDR.
_TRANSFER_NAMES = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
                   9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
                   14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}
_HDR_TRANSFERS = {"smpte2084", "arib-std-b67"}
_HDR_FORMATS = {"smpte2084": "HDR10", "arib-std-b67": "HLG"}
# FFmpeg's names for every value it defines: the ladder tags frames with them again (hls.picture_colour).
_PRIMARIES_NAMES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film", 9: "bt2020",
                    10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
_MATRIX_NAMES = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
                 9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc", 13: "chroma-derived-c",
                 14: "ictcp"}
_RANGE_NAMES = {1: "tv", 2: "pc"}  # limited, full
# AVFieldOrder: 1 progressive; 2 top field first; 3 bottom first; 4/5 mixed orders (coded one way, shown the other).
_FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
_VFR_SAMPLE_PACKETS = 240
_FIRST_FRAME_MAX_BYTES = 256 * 2**20  # an intra-only 8K stream reaches its first picture long before this
_FIRST_FRAME_MAX_SECONDS = 20.0
_STILL_MAX_SECONDS = 0.2
_HEADER_DURATION_DEMUXERS = {"matroska", "avi", "flv", "mxf"}
_TAIL_MAX_PACKETS = 5000
_ATTACHED_PIC = 1 << 10  # AV_DISPOSITION_ATTACHED_PIC: cover art, not a video


def probe_file(path: Path, limits: Limits) -> dict[str, Any]:
    """Probe an untrusted file; raise UnsupportedMediaError / MediaDecodeError / LimitExceededError with a reason."""
    path = Path(path)
    size = path.stat().st_size
    with open_input(path, max_frame_pixels=limits.max_frame_pixels) as container:
        return probe_container(container, size=size, limits=limits)


def probe_container(container: av.container.InputContainer, *, size: int, limits: Limits) -> dict[str, Any]:
    """Probe an already opened container (opened with `open_input`)."""
    streams = list(container.streams)
    if len(streams) > limits.max_streams:
        raise LimitExceededError(f"too many streams: {len(streams)} (the limit is {limits.max_streams})")
    infos = [stream_info(s) for s in streams]
    video = next((s for s in container.streams.video if not _is_cover_art(s)), None)
    audio = next(iter(container.streams.audio), None)
    primary: av.stream.Stream | None = video or audio
    if primary is None:
        kinds = ", ".join(sorted({i["type"] for i in infos})) or "none"
        raise UnsupportedMediaError(f"no video or audio streams in the file (streams found: {kinds})")
    for s in container.streams.video:
        if not _is_cover_art(s):
            check_frame_size(s.index, s.codec_context.width, s.codec_context.height, limits)

    duration = _duration(container, streams)
    if duration is None or duration <= 0:
        raise MediaDecodeError("the file has no readable duration: it is probably truncated or corrupt")
    if duration > limits.max_duration_seconds:
        raise LimitExceededError(f"too long: {duration:.0f} s (the limit is {limits.max_duration_seconds:.0f} s)")
    _check_not_truncated(streams, size)

    first = _read_first_frames(container, video, audio)
    _check_tail(container, primary, duration)
    rotation = 0
    if video is not None:
        rotation = normalise_rotation(first.get("rotation", 0))
        infos[video.index]["rotation"] = rotation
        if first.get("interlaced") and not infos[video.index]["interlaced"]:  # flagged per picture only
            infos[video.index].update(interlaced=True, field_order=infos[video.index]["field_order"] or "unknown")
        if first.get("hdr_metadata"):
            infos[video.index].update(first["hdr_metadata"])
        infos[video.index] = with_picture_colour(infos[video.index], first.get("colour", {}))
        if audio is None and (duration < _STILL_MAX_SECONDS or video.frames == 1):
            raise UnsupportedMediaError(f"a still image is not a video (a single {video.codec_context.name} picture)")
    vinfo = infos[video.index] if video is not None else None
    width, height = display_size(vinfo["width"], vinfo["height"], rotation) if vinfo else (None, None)
    timestamps = _video_timestamps(container, video, first.get("video_pts", []))

    return {
        "format": container.format.name,
        "format_long": container.format.long_name,
        "duration": round(duration, 3),
        "bit_rate": container.bit_rate or None,
        "size": size,
        "has_video": video is not None,
        "has_audio": audio is not None,
        "width": width,
        "height": height,
        "rotation": rotation,
        "video_codec": vinfo["codec"] if vinfo else None,
        "audio_codec": infos[audio.index]["codec"] if audio is not None else None,
        "fps": vinfo["fps"] if vinfo else None,
        "is_vfr": bool(video is not None and is_vfr(timestamps, video.average_rate, video.base_rate)),
        "interlaced": bool(vinfo and vinfo["interlaced"]),
        "hdr": vinfo["hdr_format"] if vinfo else None,
        "streams": infos,
        "chapters": [_chapter(ch) for ch in container.chapters()],
        "tags": {str(k): str(v) for k, v in container.metadata.items()},
    }


# --- pure helpers ------------------------------------------------------------------------------
def with_picture_colour(info: dict[str, Any], picture: dict[str, int]) -> dict[str, Any]:
    """A video stream's info with the colour its decoder tags the first picture with, where the stream itself
    declares none (VP8's decoder tags every picture BT.601 while its stream says nothing): the pictures are
    what the ladder encodes, and it keeps their colour."""
    names = {"color_primaries": _PRIMARIES_NAMES, "color_transfer": _TRANSFER_NAMES, "color_matrix": _MATRIX_NAMES,
             "color_range": _RANGE_NAMES}
    found = {key: names[key].get(value) for key, value in picture.items() if info.get(key) is None}
    out = info | {key: name for key, name in found.items() if name is not None}
    transfer = out.get("color_transfer")
    return out | {"hdr": transfer in _HDR_TRANSFERS, "hdr_format": _HDR_FORMATS.get(transfer or "")}


def check_frame_size(index: int, width: int, height: int, limits: Limits) -> None:
    """Refuse pictures over the pixel limit, before anything decodes them."""
    if width <= 0 or height <= 0:
        # open_input gives decoders max_pixels, and FFmpeg refuses absurd sizes outright, so a header
        # claiming an oversized picture arrives here as a stream whose size FFmpeg dropped.
        raise LimitExceededError(f"video stream {index}: the header declares a frame size FFmpeg refused "
                                 f"(over the {limits.max_frame_pixels}-pixel limit or invalid); not decoding it")
    if width * height > limits.max_frame_pixels:
        raise LimitExceededError(f"video stream {index}: frames of {width}x{height} = {width * height} pixels "
                                 f"exceed the limit of {limits.max_frame_pixels} pixels")


def normalise_rotation(degrees: float) -> int:
    """Display-matrix rotation (counter-clockwise degrees, FFmpeg's convention) snapped to 0/90/180/270."""
    return int(round(degrees / 90.0)) % 4 * 90


def display_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    return (height, width) if rotation in (90, 270) else (width, height)


def is_vfr(timestamps: list[float], average_rate: Fraction | None, base_rate: Fraction | None) -> bool:
    """Variable frame rate: uneven gaps between sorted presentation times (s), or avg rate far from the base rate."""
    gaps = [b - a for a, b in zip(timestamps, timestamps[1:], strict=False) if b > a]
    if len(gaps) >= 4:
        typical = statistics.median(gaps)
        uneven = sum(abs(g - typical) > 0.25 * typical for g in gaps)
        if uneven / len(gaps) > 0.02:
            return True
    if average_rate and base_rate:
        return abs(float(average_rate) / float(base_rate) - 1.0) > 0.05
    return False


def stream_info(stream: av.stream.Stream) -> dict[str, Any]:
    kind = stream.type if stream.type in ("video", "audio", "subtitle") else "data"
    cc = stream.codec_context
    info: dict[str, Any] = {
        "index": stream.index,
        "type": kind,
        "codec": cc.codec.canonical_name if cc is not None and cc.codec is not None else None,
        "profile": stream.profile,
        "bit_rate": (cc.bit_rate if cc is not None and kind in ("video", "audio") else None) or None,
        "language": stream.metadata.get("language") if stream.metadata.get("language") != "und" else None,
        "title": stream.metadata.get("title"),
        "duration": _seconds(stream.duration, stream.time_base),
    }
    # PyAV wraps a stream of FFmpeg's video (audio) media type in a VideoStream (AudioStream): the same test
    # as `kind`, spelled so that the codec context's type is known.
    if isinstance(stream, VideoStream):
        vcc = stream.codec_context
        transfer = _TRANSFER_NAMES.get(vcc.color_trc)
        rate = stream.average_rate or stream.guessed_rate
        field_order = _FIELD_ORDERS.get(vcc.field_order)
        info.update(width=vcc.width, height=vcc.height, rotation=0, pix_fmt=vcc.pix_fmt,
                    fps=round(float(rate), 3) if rate else None, color_transfer=transfer,
                    color_primaries=_PRIMARIES_NAMES.get(vcc.color_primaries),
                    color_matrix=_MATRIX_NAMES.get(vcc.colorspace), color_range=_RANGE_NAMES.get(vcc.color_range),
                    hdr=transfer in _HDR_TRANSFERS,
                    hdr_format=_HDR_FORMATS.get(transfer or ""), field_order=field_order,
                    interlaced=field_order not in (None, "progressive"), frames=stream.frames or None)
        if _is_cover_art(stream):
            info["cover_art"] = True
    elif isinstance(stream, AudioStream):
        acc = stream.codec_context
        info.update(sample_rate=acc.sample_rate, channels=acc.channels, channel_layout=acc.layout.name)
    return info


# --- shell helpers -----------------------------------------------------------------------------
def _is_cover_art(stream: av.stream.Stream) -> bool:
    return bool(int(stream.disposition) & _ATTACHED_PIC)


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None or value <= 0:
        return None
    return round(float(value * time_base), 3)


def _duration(container: av.container.InputContainer, streams: list[av.stream.Stream]) -> float | None:
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    known = [d for s in streams if (d := _seconds(s.duration, s.time_base))]
    return max(known) if known else None


def _check_not_truncated(streams: list[av.stream.Stream], size: int) -> None:
    # MP4/MOV (and Matroska cues) index every sample with its byte position: an interrupted
    # upload with the index at the front claims data past the end of the file.
    end = 0
    for s in streams:
        entries = s.index_entries
        if len(entries):
            last = entries[len(entries) - 1]
            if last.pos >= 0:
                end = max(end, last.pos + last.size)
    if end > size:
        raise MediaDecodeError(f"the file is truncated: its index points to byte {end} but it has only {size} bytes "
                               f"({100 * size / end:.0f}% present); was the upload interrupted?")


def _check_tail(container: av.container.InputContainer, stream: av.stream.Stream, duration: float) -> None:
    # Matroska, AVI, FLV and MXF declare the duration in the header; an interrupted upload keeps the
    # header but not the end. Seek near the end and make sure packets get there (reading, not decoding).
    if demuxer_name(container) not in _HEADER_DURATION_DEMUXERS:
        return
    reach = duration - max(1.0, 0.05 * duration)
    start, tb = stream.start_time or 0, time_base(stream)
    last = 0.0
    try:
        container.seek(start + int(max(0.0, reach - 1.0) / tb), stream=stream, backward=True, any_frame=False)
        for n, packet in enumerate(container.demux(stream)):
            if packet.pts is not None:
                last = max(last, float((packet.pts + (packet.duration or 0) - start) * tb))
            if last >= reach or n >= _TAIL_MAX_PACKETS:
                return
    except av.error.FFmpegError:
        pass  # a failed seek or read near the end is the same finding as running out of data
    raise MediaDecodeError(f"the file is truncated: its header declares {duration:.1f} s but the data stops "
                           f"early (last packet read near the end: {last:.1f} s); was the upload interrupted?")


def _read_first_frames(container: av.container.InputContainer, video: VideoStream | None,
                       audio: AudioStream | None) -> dict[str, Any]:
    """Decode the first picture of the primary video stream and the first sound of the primary audio stream.

    Only key frames are decoded, but a decoder may still hold its first picture back (B-frame delay, frame
    threads, an open GOP's recovery point): when the reading budget ends or the file does, the decoders are
    flushed. The budget is bytes and wall time, never a packet count, which a 250-frame GOP would outlast.
    """
    found: dict[str, Any] = {"video_pts": []}
    if video is not None:
        video.codec_context.skip_frame = "NONKEY"
    got_video, got_audio = video is None, audio is None
    read, deadline = 0, time.monotonic() + _FIRST_FRAME_MAX_SECONDS
    try:
        for packet in container.demux([s for s in (video, audio) if s is not None]):
            read += packet.size
            if packet.stream is video and packet.pts is not None:
                found["video_pts"].append(float(packet.pts * packet.time_base))
            # stream.decode(packet) is what packet.decode() calls; spelled this way the frames are typed
            if not got_video and video is not None and packet.stream is video:
                got_video = _take_picture(video.decode(packet), found)
            elif not got_audio and audio is not None and packet.stream is audio:
                got_audio = bool(audio.decode(packet))
            if got_video and got_audio and len(found["video_pts"]) >= _VFR_SAMPLE_PACKETS:
                break
            if read > _FIRST_FRAME_MAX_BYTES or time.monotonic() > deadline:
                break
        # got_video (got_audio) starts True when there is no such stream
        if not got_video and video is not None:
            got_video = _take_picture(video.codec_context.decode(None), found)
        if not got_audio and audio is not None:
            got_audio = bool(audio.codec_context.decode(None))
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"the media data could not be decoded: {getattr(exc, 'strerror', exc)}") from exc
    scope = (f"the first {read // 2**20} MiB" if read > _FIRST_FRAME_MAX_BYTES
             else "the file" if time.monotonic() <= deadline else f"{_FIRST_FRAME_MAX_SECONDS:.0f} s of reading")
    if not got_video and video is not None:
        raise MediaDecodeError(f"video stream {video.index} ({video.codec_context.name}): FFmpeg decoded no picture "
                               f"in {scope}; the video data is corrupt or truncated")
    if not got_audio and audio is not None:
        raise MediaDecodeError(f"audio stream {audio.index} ({audio.codec_context.name}): FFmpeg decoded no sound "
                               f"in {scope}; the audio data is corrupt or truncated")
    return found


def _take_picture(frames: list[av.VideoFrame], found: dict[str, Any]) -> bool:
    for frame in frames:
        found["rotation"] = frame.rotation
        found["interlaced"] = bool(frame.interlaced_frame)
        found["hdr_metadata"] = hdr_side_data(frame)
        found["colour"] = {"color_primaries": frame.color_primaries, "color_transfer": frame.color_trc,
                           "color_matrix": frame.colorspace, "color_range": frame.color_range}
        return True
    return False


def hdr_side_data(frame: av.VideoFrame) -> dict[str, Any]:
    """HDR10 static metadata of a decoded picture: mastering display (SMPTE ST 2086) and content light levels."""
    out: dict[str, Any] = {}
    mastering = side_data(frame).get(SideDataType.MASTERING_DISPLAY_METADATA)
    if mastering is not None:
        out["mastering_display"] = parse_mastering_display(bytes(mastering))
    light = side_data(frame).get(SideDataType.CONTENT_LIGHT_LEVEL)
    if light is not None and len(bytes(light)) >= 8:
        max_cll, max_fall = struct.unpack_from("<II", bytes(light))
        out.update(max_cll=max_cll, max_fall=max_fall)
    return out


def parse_mastering_display(raw: bytes) -> dict[str, Any] | None:
    """AVMasteringDisplayMetadata: 10 AVRationals (R, G, B and white point x/y; min and max luminance), 2 flags."""
    if len(raw) < 88:
        return None
    values = struct.unpack_from("<20i2i", raw)
    ratios = [values[i] / values[i + 1] if values[i + 1] else 0.0 for i in range(0, 20, 2)]
    has_primaries, has_luminance = values[20], values[21]
    out: dict[str, Any] = {}
    if has_primaries:
        names = ("red", "green", "blue", "white_point")
        out.update({n: [round(ratios[2 * i], 4), round(ratios[2 * i + 1], 4)] for i, n in enumerate(names)})
    if has_luminance:
        out.update(min_luminance=round(ratios[8], 4), max_luminance=round(ratios[9], 2))
    return out or None


def _video_timestamps(container: av.container.InputContainer, video: av.stream.Stream | None,
                      demuxed: list[float]) -> list[float]:
    if video is None:
        return []
    entries = video.index_entries
    if demuxer_name(container) == "mov" and len(entries) >= 4:  # MP4 indexes every frame: free and exact
        tb = time_base(video)
        count = min(len(entries), 4 * _VFR_SAMPLE_PACKETS)
        return sorted(float(entries[i].timestamp * tb) for i in range(count))
    return sorted(demuxed)


def _chapter(ch: Chapter) -> dict[str, Any]:
    tb = ch.get("time_base") or Fraction(1, 1)
    return {"start": round(float(ch["start"] * tb), 3), "end": round(float(ch["end"] * tb), 3),
            "title": (ch.get("metadata") or {}).get("title")}
