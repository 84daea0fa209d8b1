"""HLS playlist text, parsed and built: the attribute lists and URIs of a master playlist, the segments of a media
playlist, the peak and average bandwidth of a rendition, the codec string of an H.264 stream, the master playlist we
write, the subtitle renditions and their one-segment playlists, and the X-TIMESTAMP-MAP that lines WebVTT cues up with
the video. Pure text functions: nothing here opens a file or starts a process; the types of the plan and of a
variant come from vidpipe.ffmpeg.hls, which never imports this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace

from vidpipe.ffmpeg.hls import SUBTITLE_FILE, TranscodePlan, Variant

SUBTITLE_GROUP = "subs"
_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def parse_attributes(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(text)}


def parse_master(text: str) -> dict[str, dict[str, str]]:
    """URI -> attributes, for every EXT-X-STREAM-INF and EXT-X-MEDIA of a master playlist."""
    out: dict[str, dict[str, str]] = {}
    lines = [ln.strip() for ln in text.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-MEDIA:"):
            attrs = parse_attributes(line.split(":", 1)[1])
            if "URI" in attrs:
                out[attrs["URI"]] = attrs
        elif line.startswith("#EXT-X-STREAM-INF:"):
            uri = next((u for u in lines[i + 1:] if u and not u.startswith("#")), None)
            if uri:
                out[uri] = parse_attributes(line.split(":", 1)[1])
    return out


def parse_media_playlist(text: str) -> list[tuple[str, float]]:
    """(segment URI, duration) pairs of a media playlist."""
    segments: list[tuple[str, float]] = []
    duration: float | None = None
    for line in (ln.strip() for ln in text.splitlines()):
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",", 1)[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line, duration))
            duration = None
    return segments


def bandwidths(segments: Sequence[tuple[int, float]]) -> tuple[int, int]:
    """(peak, average) bits/s from (bytes, seconds) per segment; peak as HLS defines BANDWIDTH."""
    rates = [size * 8 / dur for size, dur in segments if dur > 0]
    total_s = sum(dur for _, dur in segments if dur > 0)
    if not rates or total_s <= 0:
        return 0, 0
    return math.ceil(max(rates)), math.ceil(sum(size for size, _ in segments) * 8 / total_s)


def avc1_codec_from_bytes(data: bytes) -> str | None:
    """RFC 6381 `avc1.PPCCLL` from the first SPS NAL unit found in an Annex B stream (e.g. a TS segment)."""
    pos = data.find(b"\x00\x00\x01")
    while 0 <= pos < len(data) - 6:
        if data[pos + 3] & 0x1F == 7:
            profile, constraints, level = data[pos + 4], data[pos + 5], data[pos + 6]
            return f"avc1.{profile:02x}{constraints:02x}{level:02x}"
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return None


def _quoted(value: str) -> str:
    return '"' + value.replace('"', "'").replace("\n", " ") + '"'


def build_master_playlist(variants: Sequence[Variant]) -> str:
    """Master playlist text: EXT-X-MEDIA for alternate audio, EXT-X-STREAM-INF for each playable variant."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"]
    video = [v for v in variants if v.kind == "video"]
    for v in variants:
        if v.kind == "audio" and v.audio_group:
            attrs = [f"TYPE=AUDIO,GROUP-ID={_quoted(v.audio_group)}", f"NAME={_quoted(v.language or v.name)}"]
            if v.language:
                attrs.append(f"LANGUAGE={_quoted(v.language)}")
            attrs.append(f"DEFAULT={'YES' if v.default else 'NO'},AUTOSELECT=YES")
            if v.channels:
                attrs.append(f"CHANNELS={_quoted(str(v.channels))}")
            attrs.append(f"URI={_quoted(v.uri)}")
            lines.append("#EXT-X-MEDIA:" + ",".join(attrs))
    for v in variants:
        if v.kind == "subtitles" and v.subtitle_group:
            attrs = [f"TYPE=SUBTITLES,GROUP-ID={_quoted(v.subtitle_group)}", f"NAME={_quoted(v.name_shown or v.name)}"]
            if v.language:
                attrs.append(f"LANGUAGE={_quoted(v.language)}")
            attrs += ["DEFAULT=NO,AUTOSELECT=YES,FORCED=NO", f"URI={_quoted(v.uri)}"]
            lines.append("#EXT-X-MEDIA:" + ",".join(attrs))
    playable = video or [v for v in variants if v.kind == "audio" and not v.audio_group]
    for v in playable:  # BANDWIDTH as given: for a video rung it already includes its audio
        attrs = [f"BANDWIDTH={v.bandwidth}"]
        if v.average_bandwidth:
            attrs.append(f"AVERAGE-BANDWIDTH={v.average_bandwidth}")
        if v.width and v.height:
            attrs.append(f"RESOLUTION={v.width}x{v.height}")
        if v.frame_rate:
            attrs.append(f"FRAME-RATE={v.frame_rate:.3f}")
        attrs.append(f"CODECS={_quoted(v.codecs)}")
        if v.kind == "video" and v.audio_group:
            attrs.append(f"AUDIO={_quoted(v.audio_group)}")
        if v.kind == "video" and v.subtitle_group:
            attrs.append(f"SUBTITLES={_quoted(v.subtitle_group)}")
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), v.uri]
    return "\n".join(lines) + "\n"


def with_subtitles(variants: Sequence[Variant], plan: TranscodePlan, prefix: str = "") -> list[Variant]:
    """The variants plus one WebVTT rendition per subtitle track of the plan (at `prefix<track>/index.m3u8`), every
    video rung offering them; the variants unchanged when the plan has none."""
    if not plan.subtitles:
        return list(variants)
    subs = [Variant(t.name, "subtitles", f"{prefix}{t.name}/index.m3u8", 0, "wvtt", language=t.language,
                    subtitle_group=SUBTITLE_GROUP, name_shown=t.title or t.language) for t in plan.subtitles]
    return [replace(v, subtitle_group=SUBTITLE_GROUP) if v.kind == "video" else v for v in variants] + subs


def subtitle_playlist(duration: float) -> str:
    """A VOD media playlist whose one segment is the whole WebVTT file (what hls.js and Safari accept)."""
    seconds = max(0.001, duration)
    return "\n".join(["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{max(1, math.ceil(seconds))}",
                      "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", f"#EXTINF:{seconds:.3f},",
                      SUBTITLE_FILE, "#EXT-X-ENDLIST"]) + "\n"


def with_timestamp_map(vtt: str, first_video_pts: int) -> str:
    """WebVTT with X-TIMESTAMP-MAP: cue time 0 is the first video frame, at this 90 kHz PTS in the TS segments."""
    lines = vtt.splitlines()
    if lines and lines[0].startswith("WEBVTT"):
        header, rest = lines[0], lines[1:]
    else:
        header, rest = "WEBVTT", lines
    rest = [ln for ln in rest if not ln.startswith("X-TIMESTAMP-MAP")]
    return "\n".join([header, f"X-TIMESTAMP-MAP=MPEGTS:{first_video_pts},LOCAL:00:00:00.000", *rest]) + "\n"
