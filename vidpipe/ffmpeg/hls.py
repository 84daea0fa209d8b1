"""Pure HLS planning: which rungs an asset gets, the one ffmpeg command that makes them all.

Nothing here opens a file or starts a process; the transcode stage is the shell around it. The playlist text
(parse and build, the master playlist) is vidpipe.ffmpeg.playlists, which imports this module, never the reverse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from vidpipe.errors import UnsupportedMediaError
from vidpipe.ffmpeg import colour
from vidpipe.profiles import Profile

AUDIO_GROUP = "aud"
SUBTITLE_FILE = "subtitles.vtt"
# Text subtitles become WebVTT renditions; bitmap ones (DVD, PGS, DVB) would need OCR and are left out.
TEXT_SUBTITLE_CODECS = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd"})
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")
AAC_LC = "mp4a.40.2"
SEGMENT_PATTERN = "seg_%05d.ts"  # MPEG-TS: plays everywhere HLS plays, one self-contained file per segment
MPEGTS_START_90K = 126000  # 1.4 s at 90 kHz: where FFmpeg's MPEG-TS muxer puts time 0 when nothing says otherwise
_STANDARD_RATES = (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                   Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60))
MAX_FPS = Fraction(60)


@dataclass(frozen=True)
class PlannedRung:
    """One video rendition as it will be encoded: exact even output size and bitrates."""

    name: str  # "720p": the short side, also the directory under hls/
    width: int
    height: int
    video_kbps: int
    audio_kbps: int
    crf: float | None = None  # per-title: constant quality, capped at cap_kbps; None: the fixed bitrate
    cap_kbps: int | None = None

    @property
    def maxrate_kbps(self) -> int:
        return self.cap_kbps or math.ceil(self.video_kbps * 1.07)

    @property
    def bufsize_kbps(self) -> int:
        return self.maxrate_kbps * 2 if self.crf is not None else self.video_kbps * 3 // 2


@dataclass(frozen=True)
class AudioTrack:
    """One source audio stream kept as its own HLS audio rendition."""

    source_index: int  # N in ffmpeg's `0:a:N`
    name: str  # "audio_eng"; a directory under hls/, so only [a-z0-9_]
    language: str  # ISO 639 code from the stream's tag, "und" when missing or malformed
    channels: int  # output channels (at most 2)
    default: bool


@dataclass(frozen=True)
class SubtitleTrack:
    """One text subtitle stream of the source, kept as a WebVTT rendition."""

    source_index: int  # N in ffmpeg's `0:s:N`
    name: str  # "subs_eng"; a directory under hls/
    language: str
    title: str | None = None


@dataclass(frozen=True)
class TranscodePlan:
    rungs: tuple[PlannedRung, ...]
    audio: tuple[AudioTrack, ...]
    fps: Fraction | None  # CFR output rate; None for audio-only
    segment_seconds: float
    x264_preset: str
    audio_kbps: int  # for alternate audio renditions and audio-only assets
    duration: float
    sample_rate_cap: int | None = None  # resample to this when the source is above it
    video_index: int = 0  # N in `0:v:N`: the first video stream that is not cover art
    deinterlace: bool = False  # interlaced source: bwdif, one frame per frame
    tonemap_from: str | None = None  # HDR transfer (PQ or HLG) to tone-map to SDR BT.709
    source_primaries: str | None = None
    source_matrix: str | None = None
    source_transfer: str | None = None
    source_range: str | None = None  # "tv" | "pc"
    source_pix_fmt: str | None = None  # the decoder's pixel format (what a raw copy of the decoded video holds)
    subtitles: tuple[SubtitleTrack, ...] = ()
    audio_filters: tuple[str | None, ...] = ()  # per audio track (plan.audio order): e.g. loudness normalisation

    @property
    def mode(self) -> str:
        """audio_only | video_only | muxed (one audio track inside each rung) | groups (alternate audio)."""
        if not self.rungs:
            return "audio_only"
        if not self.audio:
            return "video_only"
        return "muxed" if len(self.audio) == 1 else "groups"

    @property
    def keyint(self) -> int:
        assert self.fps is not None
        return max(1, round(self.segment_seconds * self.fps))


@dataclass(frozen=True)
class Variant:
    """A line of the master playlist: a video rung (EXT-X-STREAM-INF) or an audio rendition (EXT-X-MEDIA)."""

    name: str
    kind: str  # "video" | "audio" | "subtitles"
    uri: str  # relative to the master: "720p/index.m3u8"
    bandwidth: int
    codecs: str
    average_bandwidth: int | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    language: str | None = None
    channels: int | None = None
    default: bool = False
    audio_group: str | None = None  # video: the group it plays with; audio: the group it belongs to
    subtitle_group: str | None = None  # video: the subtitles offered with it; subtitles: the group it belongs to
    name_shown: str | None = None  # a subtitle track's title, for the player's menu


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _scaled_size(src_w: int, src_h: int, short_side: int) -> tuple[int, int]:
    if src_w >= src_h:  # landscape or square: the height is the short side
        return _even(src_w * short_side / src_h), _even(short_side)
    return _even(short_side), _even(src_h * short_side / src_w)


def plan_ladder(probe: dict[str, Any], profile: Profile) -> list[PlannedRung]:
    """Rungs no larger than the source (by short side); one source-sized rung when the source is below them all."""
    width, height = int(probe.get("width") or 0), int(probe.get("height") or 0)
    if not probe.get("has_video") or width <= 0 or height <= 0:
        return []
    short = min(width, height)
    rungs = sorted((r for r in profile.ladder if r.height <= short), key=lambda r: -r.height)
    if not rungs:
        smallest = min(profile.ladder, key=lambda r: r.height)
        even_short = max(2, short - short % 2)
        w, h = _scaled_size(width, height, even_short)
        return [PlannedRung(f"{even_short}p", w, h, smallest.video_kbps, smallest.audio_kbps)]
    return [PlannedRung(r.name, *_scaled_size(width, height, r.height), r.video_kbps, r.audio_kbps) for r in rungs]


def _clean_language(tag: object) -> str:
    lang = str(tag or "").strip().lower()
    return lang if re.fullmatch(r"[a-z]{2,3}", lang) else "und"


def plan_audio(probe: dict[str, Any]) -> list[AudioTrack]:
    """Every audio stream of the source, named by its language; the first is the default."""
    streams = sorted((s for s in probe.get("streams") or [] if s.get("type") == "audio"),
                     key=lambda s: int(s.get("index", 0)))
    tracks: list[AudioTrack] = []
    seen: dict[str, int] = {}
    for pos, stream in enumerate(streams):
        lang = _clean_language(stream.get("language"))
        seen[lang] = seen.get(lang, 0) + 1
        name = f"audio_{lang}" if seen[lang] == 1 else f"audio_{lang}_{seen[lang]}"
        channels = min(2, int(stream.get("channels") or 2)) or 2
        tracks.append(AudioTrack(pos, name, lang, channels, default=pos == 0))
    return tracks


def plan_subtitles(probe: dict[str, Any]) -> list[SubtitleTrack]:
    """Every text subtitle stream, named by its language (bitmap subtitles are skipped)."""
    streams = sorted((s for s in probe.get("streams") or [] if s.get("type") == "subtitle"),
                     key=lambda s: int(s.get("index", 0)))
    tracks: list[SubtitleTrack] = []
    seen: dict[str, int] = {}
    for pos, stream in enumerate(streams):
        if stream.get("codec") not in TEXT_SUBTITLE_CODECS:
            continue
        lang = _clean_language(stream.get("language"))
        seen[lang] = seen.get(lang, 0) + 1
        name = f"subs_{lang}" if seen[lang] == 1 else f"subs_{lang}_{seen[lang]}"
        tracks.append(SubtitleTrack(pos, name, lang, stream.get("title")))
    return tracks


def output_fps(fps: object) -> Fraction:
    """The CFR output rate: a near-standard rate snaps to it, anything else rounds to whole frames, max 60."""
    try:
        rate = Fraction(str(fps)).limit_denominator(1001) if fps else Fraction(0)
    except (ValueError, ZeroDivisionError):
        rate = Fraction(0)
    if rate <= 0:
        return Fraction(30)
    if rate > MAX_FPS:
        return MAX_FPS
    nearest = min(_STANDARD_RATES, key=lambda r: abs(r - rate))
    if abs(nearest - rate) / nearest < 0.01:
        return nearest
    return Fraction(max(1, round(rate)))


def plan_transcode(probe: dict[str, Any], profile: Profile) -> TranscodePlan:
    rungs = plan_ladder(probe, profile)
    audio = plan_audio(probe) if probe.get("has_audio") else []
    if not rungs and not audio:
        raise UnsupportedMediaError("the source has neither a video nor an audio stream to transcode")
    if not rungs:
        audio = audio[:1]  # an audio-only asset is one rendition: hls/audio/
        audio = [AudioTrack(a.source_index, "audio", a.language, a.channels, True) for a in audio]
    rates = [int(s.get("sample_rate") or 0) for s in probe.get("streams") or [] if s.get("type") == "audio"]
    video = _main_video_info(probe)
    return TranscodePlan(
        rungs=tuple(rungs), audio=tuple(audio), fps=output_fps(probe.get("fps")) if rungs else None,
        segment_seconds=float(profile.segment_seconds), x264_preset=profile.x264_preset,
        audio_kbps=max([r.audio_kbps for r in profile.ladder] or [128]) if rungs else profile.audio_only_kbps,
        duration=float(probe.get("duration") or 0.0),
        sample_rate_cap=48000 if any(r > 48000 for r in rates) else None, video_index=_main_video(probe),
        deinterlace=bool(rungs and probe.get("interlaced")),
        tonemap_from=video.get("color_transfer") if rungs and video.get("color_transfer") in HDR_TRANSFERS else None,
        source_primaries=video.get("color_primaries"), source_matrix=video.get("color_matrix"),
        source_transfer=video.get("color_transfer"), source_range=video.get("color_range"),
        source_pix_fmt=video.get("pix_fmt"),
        subtitles=tuple(plan_subtitles(probe)) if rungs else (),
    )


def _videos(probe: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((s for s in probe.get("streams") or [] if s.get("type") == "video"),
                  key=lambda s: int(s.get("index", 0)))


def _main_video(probe: dict[str, Any]) -> int:
    return next((pos for pos, s in enumerate(_videos(probe)) if not s.get("cover_art")), 0)


def _main_video_info(probe: dict[str, Any]) -> dict[str, Any]:
    return next((s for s in _videos(probe) if not s.get("cover_art")), {})


def video_filters(plan: TranscodePlan) -> str:
    """The filters every rung shares, applied once before the split: deinterlace, constant rate, tone map."""
    assert plan.fps is not None  # only a plan with video rungs has filters, and it always has a rate
    filters = ["bwdif=mode=send_frame:parity=auto:deint=all"] if plan.deinterlace else []
    filters.append(f"fps={_fps_text(plan.fps)}")
    if plan.tonemap_from:
        filters.append(colour.tonemap_filter(plan.tonemap_from, plan.source_primaries, plan.source_matrix))
    return ",".join(filters)


def picture_colour(plan: TranscodePlan) -> colour.Colour:
    """The colour description of the frames `video_filters` outputs: the tone map's, else the source's."""
    if plan.tonemap_from:
        return colour.SDR_BT709
    return colour.Colour(plan.source_primaries, plan.source_transfer, plan.source_matrix, plan.source_range)


def raw_frame_tags(plan: TranscodePlan) -> str:
    """The filter that puts the colour description back on frames of `video_filters` read back from a raw NUT
    (the per-title shared decode, the trials' reference), or on anything compared with them.

    NUT is the one container that holds raw frames of every pixel format the ladder meets, and it stores no
    colour description; Matroska keeps colour but reads 10-bit raw frames back as RGB. So the frames' colour comes
    from the plan, here, for every reader: the ladder, the trials' scoring and the rendition's check."""
    return colour.tag_filter(picture_colour(plan))


def _video_head(plan: TranscodePlan, decoded: bool = False) -> str:
    # Already decoded and filtered by the per-title analysis (the second input), as a raw file: see raw_frame_tags.
    return "[1:v:0]" + raw_frame_tags(plan) if decoded else (
        f"[0:v:{plan.video_index}]" + video_filters(plan))


def _fps_text(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def audio_args(out_index: int, kbps: int, channels: int, cap: int | None, audio_filter: str | None = None
                ) -> list[str]:
    args = [f"-b:a:{out_index}", f"{kbps}k", f"-ac:a:{out_index}", str(channels)]
    args += [f"-filter:a:{out_index}", audio_filter] if audio_filter else []
    return args + ([f"-ar:a:{out_index}", str(cap)] if cap else [])


def track_filter(plan: TranscodePlan, track: int) -> str | None:
    return plan.audio_filters[track] if track < len(plan.audio_filters) else None


def build_ffmpeg_args(plan: TranscodePlan, input_args: Sequence[str], out_dir: Path, *,
                      decoded_video: tuple[Path, float] | None = None) -> list[str]:
    """One ffmpeg invocation: decode once, split to every rung, write all playlists and segments under out_dir.

    `decoded_video`: (our raw file of the source's video after `video_filters`, its first timestamp) from the
    per-title analysis's decode; the video is read from it (audio and subtitles still from the source). The
    timestamp offset keeps the video where it was against the audio (ffmpeg starts every input at 0).
    """
    args: list[str] = ["-loglevel", "error", "-nostats", "-progress", "pipe:1", "-y", *input_args]
    if decoded_video is not None:
        args += ["-itsoffset", f"{decoded_video[1]:.6f}", "-f", "nut", "-i", str(decoded_video[0])]
    stream_map: list[str] = []
    if plan.rungs:
        n = len(plan.rungs)
        labels = [f"[s{i}]" for i in range(n)]
        head = _video_head(plan, decoded_video is not None)
        head += f",split={n}{''.join(labels)}" if n > 1 else "[s0]"
        scales = [f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
                  for i, r in enumerate(plan.rungs)]
        args += ["-filter_complex", ";".join([head, *scales])]
        for i in range(n):
            args += ["-map", f"[v{i}]"]
        keyint = str(plan.keyint)
        args += ["-c:v", "libx264", "-preset", plan.x264_preset, "-fps_mode", "cfr",
                 "-g", keyint, "-keyint_min", keyint, "-sc_threshold", "0",
                 "-force_key_frames", f"expr:gte(t,n_forced*{plan.segment_seconds:g})"]
        for i, r in enumerate(plan.rungs):
            rate = [f"-crf:v:{i}", f"{r.crf:g}"] if r.crf is not None else [f"-b:v:{i}", f"{r.video_kbps}k"]
            args += [*rate, f"-maxrate:v:{i}", f"{r.maxrate_kbps}k", f"-bufsize:v:{i}", f"{r.bufsize_kbps}k"]
    if plan.mode == "muxed":
        track = plan.audio[0]
        for i, r in enumerate(plan.rungs):
            args += ["-map", f"0:a:{track.source_index}"]
            args += audio_args(i, r.audio_kbps, track.channels, plan.sample_rate_cap, track_filter(plan, 0))
            stream_map.append(f"v:{i},a:{i},name:{r.name}")
    else:
        group = f",agroup:{AUDIO_GROUP}" if plan.mode == "groups" else ""
        stream_map += [f"v:{i}{group},name:{r.name}" for i, r in enumerate(plan.rungs)]
        for j, track in enumerate(plan.audio):
            args += ["-map", f"0:a:{track.source_index}"]
            args += audio_args(j, plan.audio_kbps, track.channels, plan.sample_rate_cap, track_filter(plan, j))
            extra = f",agroup:{AUDIO_GROUP},language:{track.language}" if plan.mode == "groups" else ""
            extra += ",default:yes" if plan.mode == "groups" and track.default else ""
            stream_map.append(f"a:{j}{extra},name:{track.name}")
    if plan.audio:
        args += ["-c:a", "aac"]
    args += ["-map_metadata", "-1", "-map_chapters", "-1",
             "-f", "hls", "-hls_time", f"{plan.segment_seconds:g}", "-hls_playlist_type", "vod",
             "-hls_flags", "independent_segments", "-hls_segment_type", "mpegts", "-start_number", "1",
             "-hls_segment_filename", str(out_dir / "%v" / SEGMENT_PATTERN),
             "-master_pl_name", "master.m3u8", "-var_stream_map", " ".join(stream_map),
             str(out_dir / "%v" / "index.m3u8")]
    return args + subtitle_args(plan, out_dir)  # more outputs of the same run: still one demux and one decode


def subtitle_args(plan: TranscodePlan, out_dir: Path) -> list[str]:
    """Output arguments that write every text subtitle track of the plan as `out_dir/<track>/subtitles.vtt`."""
    args: list[str] = []
    for sub in plan.subtitles:
        args += ["-map", f"0:s:{sub.source_index}", "-c:s", "webvtt", "-f", "webvtt",
                 str(out_dir / sub.name / SUBTITLE_FILE)]
    return args
