"""The compatibility corpus: the shapes of file people actually upload, generated with the bundled ffmpeg.

Every encoder runs at its *defaults* unless the shape being imitated says otherwise (a phone's rotation
and variable frame rate, a camera's ProRes, a broadcaster's interlaced MPEG-2 in MPEG-TS, a browser's
MediaRecorder WebM without a duration). Clips are small (<= 10 s, <= 720p) so the tier stays fast.

`build(sample, directory)` writes one file (cached by name and `VERSION`); `SAMPLES` is the matrix;
`render_formats_doc(results)` writes the table in docs/formats.md.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidpipe.ffmpeg.process import ffmpeg_exe, run_ffmpeg

VERSION = "3"
SECONDS = 6
LONG = 10  # long enough that a default GOP (250 frames) and its B-frame delay outlast any fixed packet budget


def _video(size: str = "320x240", rate: str = "25", seconds: float = SECONDS, source: str = "testsrc2") -> list[str]:
    return ["-f", "lavfi", "-i", f"{source}=s={size}:r={rate}:d={seconds}"]


def _audio(rate: int = 48000, seconds: float = SECONDS, freq: int = 440, layout: str | None = "stereo") -> list[str]:
    graph = f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}"
    if layout:
        graph += f",aformat=channel_layouts={layout}"
    return ["-f", "lavfi", "-i", graph]


@dataclass(frozen=True)
class Sample:
    """One row of the matrix: how the file is made and what must come out of it."""

    name: str
    filename: str
    kind: str  # what it imitates, for the docs: "encoder default", "camera", "phone", "broadcast", ...
    description: str
    args: list[str]  # ffmpeg arguments before the output path
    expect: dict[str, Any] = field(default_factory=dict)
    post: Callable[[Path, Path], None] | None = None  # (made file, final path): a second pass (remux, pipe, ...)

    @property
    def audio_only(self) -> bool:
        return not self.expect.get("has_video", True)


def _rotate(degrees: int) -> Callable[[Path, Path], None]:
    def post(made: Path, out: Path) -> None:
        run_ffmpeg(["-display_rotation:v:0", str(degrees), "-i", str(made), "-map", "0", "-c", "copy", str(out)])
    return post


def _trim_copy(made: Path, out: Path) -> None:
    # A stream copy that starts between key frames: MP4 gets an edit list hiding the lead-in frames.
    run_ffmpeg(["-ss", "0.6", "-i", str(made), "-map", "0", "-c", "copy", str(out)])


def _through_pipe(made: Path, out: Path) -> None:
    # Written to a pipe, as a browser's MediaRecorder writes: no duration, no cues, no seeking back.
    import subprocess

    with open(out, "wb") as fh:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(made), "-map", "0", "-c", "copy", "-f", "webm",
                        "pipe:1"], stdout=fh, check=True)


def _with_cover(made: Path, out: Path, codec_args: tuple[str, ...] = ("-c", "copy")) -> None:
    cover = made.with_name("cover.png")
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=300x300", "-frames:v", "1", str(cover)])
    run_ffmpeg(["-i", str(made), "-i", str(cover), "-map", "0:a", "-map", "1:v", *codec_args,
                "-disposition:v:0", "attached_pic", "-metadata:s:v", "title=Album cover", str(out)])


def _vfr(rotation: int | None = None) -> Callable[[Path, Path], None]:
    # A phone drops and stretches frames under load: uneven timestamps, then the display matrix.
    def post(made: Path, out: Path) -> None:
        stage = out.with_name("vfr-" + out.name)
        run_ffmpeg(["-i", str(made), "-vf", "select='not(eq(mod(n\\,7)\\,3))*not(eq(mod(n\\,5)\\,1))'",
                    "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "copy", str(stage)])
        if rotation is None:
            os.replace(stage, out)
        else:
            _rotate(rotation)(stage, out)
            stage.unlink()
    return post


_SUBS = "1\n00:00:00,500 --> 00:00:02,000\nHello there.\n\n2\n00:00:02,500 --> 00:00:03,500\nSecond line.\n"
_MASTER_DISPLAY = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
_X265_PQ = f"colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:master-display={_MASTER_DISPLAY}:max-cll=1000,400"


def _to_hdr(transfer: str) -> list[str]:
    # Really HDR-coded pictures (not SDR pixels with HDR tags): the SDR test picture converted to BT.2020 and PQ/HLG
    # with SDR white at 100 nits, as a grading tool would, so a tone map back to SDR can be judged against it.
    return ["-vf", f"zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t={transfer}:m=bt2020nc:p=bt2020:npl=100,"
                   "format=yuv420p10le"]


def _srt_input() -> list[str]:
    path = Path(tempfile.gettempdir()) / "vidpipe-corpus-subs.srt"
    if not path.exists():
        path.write_text(_SUBS)
    return ["-i", str(path)]


V, A = _video, _audio
_AAC = ["-c:a", "aac"]
SAMPLES: tuple[Sample, ...] = (
    # --- H.264 as people's tools write it -------------------------------------------------------------------------
    Sample("h264_default", "h264-default.mp4", "encoder default",
           "`ffmpeg -i … -c:v libx264 -c:a aac`: key frame every 250 frames, B-frames, frame threads",
           [*V(seconds=LONG), *A(seconds=LONG), "-c:v", "libx264", *_AAC]),
    Sample("h264_faststart", "h264-faststart.mp4", "web", "H.264/AAC with the index at the front (+faststart)",
           [*V(), *A(), "-c:v", "libx264", *_AAC, "-movflags", "+faststart"]),
    Sample("h264_fragmented", "h264-fragmented.mp4", "web", "fragmented MP4 (empty moov, one fragment per key frame)",
           [*V(), *A(), "-c:v", "libx264", *_AAC, "-movflags", "frag_keyframe+empty_moov+default_base_moof"]),
    Sample("h264_10bit", "h264-10bit.mp4", "camera", "H.264 High 10 (yuv420p10le)",
           [*V(), *A(), "-c:v", "libx264", "-pix_fmt", "yuv420p10le", *_AAC]),
    Sample("h264_422", "h264-422.mov", "camera", "H.264 High 4:2:2 10-bit in MOV with PCM",
           [*V(), *A(), "-c:v", "libx264", "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s16le"]),
    Sample("h264_444", "h264-444.mp4", "screen recording", "H.264 High 4:4:4 Predictive",
           [*V(), *A(), "-c:v", "libx264", "-pix_fmt", "yuv444p", *_AAC]),
    Sample("h264_open_gop", "h264-open-gop.mkv", "encoder setting",
           "open GOP, B-pyramid, 3 B-frames, 10 s key interval",
           [*V(seconds=LONG), *A(seconds=LONG), "-c:v", "libx264", "-x264-params",
            "open-gop=1:b-pyramid=normal:bframes=3:keyint=250",
            *_AAC]),
    Sample("h264_edit_list", "h264-edit-list.mp4", "editor", "stream copy cut between key frames (MP4 edit list)",
           [*V(seconds=SECONDS + 1), *A(seconds=SECONDS + 1), "-c:v", "libx264", "-g", "50", *_AAC],
           post=_trim_copy),
    Sample("h264_60fps", "h264-60fps.mp4", "game capture", "60 fps H.264",
           [*V(rate="60"), *A(), "-c:v", "libx264", *_AAC]),
    Sample("h264_tiny", "h264-tiny.mp4", "odd size", "64x36 pixels",
           [*V(size="64x36"), *A(), "-c:v", "libx264", *_AAC]),
    Sample("odd_size_vp9", "vp9-853x479.webm", "odd size", "853x479 (odd width and height, 4:2:0) VP9/Opus",
           [*V(size="856x480"), *A(), "-vf", "scale=853:479", "-c:v", "libvpx-vp9", "-deadline", "realtime",
            "-cpu-used", "8", "-c:a", "libopus"], {"size": (853, 479)}),
    Sample("odd_size_h264", "h264-444-853x479.mp4", "odd size", "853x479 H.264 4:4:4",
           [*V(size="856x480"), *A(), "-vf", "scale=853:479,format=yuv444p", "-c:v", "libx264", *_AAC],
           {"size": (853, 479)}),
    Sample("h264_flv", "h264.flv", "streaming", "H.264/AAC in FLV (RTMP recordings)",
           [*V(), *A(rate=44100), "-c:v", "libx264", *_AAC]),
    Sample("h264_ts", "h264.ts", "broadcast", "H.264/AAC in MPEG-TS", [*V(), *A(), "-c:v", "libx264", *_AAC]),
    Sample("h264_interlaced", "h264-interlaced.ts", "broadcast", "interlaced H.264 (top field first, 576i) in MPEG-TS",
           [*V(size="720x576"), *A(), "-vf", "setfield=tff", "-c:v", "libx264", "-flags", "+ildct+ilme",
            "-x264-params", "tff=1",
            "-c:a", "mp2"], {"interlaced": True}),
    Sample("h264_3gp", "h264.3gp", "phone", "H.264/AAC in 3GP", [*V(size="320x240"), *A(rate=16000), "-c:v",
                                                                    "libx264", *_AAC, "-ac", "1"]),
    # --- phones and cameras ----------------------------------------------------------------------------------------
    Sample("phone_vfr_rotated", "phone-vfr-rot90.mov", "phone", "portrait phone clip: VFR, display matrix 90°",
           [*V(size="640x360", rate="30"), *A(), "-c:v", "libx264", *_AAC], {"rotation": 90, "is_vfr": True},
           post=_vfr(90)),
    Sample("phone_vfr", "phone-vfr.mp4", "phone", "variable frame rate (uneven timestamps)",
           [*V(rate="30"), *A(), "-c:v", "libx264", *_AAC], {"is_vfr": True}, post=_vfr()),
    Sample("rotated_270", "rotated-270.mov", "phone", "display matrix 270°",
           [*V(size="640x360"), *A(), "-c:v", "libx264", *_AAC], {"rotation": 270}, post=_rotate(270)),
    Sample("rotated_180", "rotated-180.mp4", "phone", "display matrix 180° (upside down)",
           [*V(), *A(), "-c:v", "libx264", *_AAC], {"rotation": 180}, post=_rotate(180)),
    Sample("hevc_hvc1", "hevc-hvc1.mov", "phone", "HEVC tagged hvc1 in MOV (Apple)",
           [*V(), *A(), "-c:v", "libx265", "-tag:v", "hvc1", *_AAC]),
    Sample("prores", "prores.mov", "camera", "ProRes 422 with 24-bit PCM in MOV",
           [*V(), *A(), "-c:v", "prores_ks", "-c:a", "pcm_s24le"]),
    Sample("dnxhr_mxf", "dnxhr.mxf", "camera", "DNxHR LB in MXF with PCM",
           [*V(size="640x360"), *A(), "-c:v", "dnxhd", "-profile:v", "dnxhr_lb", "-pix_fmt", "yuv422p",
            "-c:a", "pcm_s16le"]),
    Sample("mjpeg_avi", "mjpeg.avi", "camera", "Motion JPEG with PCM in AVI (still cameras, webcams)",
           [*V(), *A(), "-c:v", "mjpeg", "-c:a", "pcm_s16le"]),
    # --- other codecs at their defaults --------------------------------------------------------------------------
    Sample("hevc_default", "hevc-default.mp4", "encoder default", "`-c:v libx265` (hev1)",
           [*V(seconds=LONG), *A(seconds=LONG), "-c:v", "libx265", *_AAC]),
    Sample("hevc_10bit", "hevc-10bit.mkv", "encoder default", "HEVC Main 10 in Matroska",
           [*V(), *A(), "-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-c:a", "libopus"]),
    Sample("av1_svt", "av1-svt.mp4", "encoder default", "`-c:v libsvtav1` in MP4",
           [*V(seconds=LONG), *A(seconds=LONG), "-c:v", "libsvtav1", *_AAC]),
    Sample("av1_webm", "av1.webm", "web", "AV1/Opus in WebM", [*V(), *A(), "-c:v", "libsvtav1", "-c:a", "libopus"]),
    Sample("vp9_webm", "vp9.webm", "encoder default", "`-c:v libvpx-vp9` with Opus in WebM",
           [*V(), *A(), "-c:v", "libvpx-vp9", "-c:a", "libopus"]),
    Sample("vp8_webm", "vp8.webm", "encoder default", "VP8/Vorbis in WebM", [*V(), *A(), "-c:v", "libvpx",
                                                                             "-c:a", "libvorbis"]),
    Sample("mediarecorder_webm", "mediarecorder.webm", "screen recording",
           "browser MediaRecorder shape: VP8/Opus WebM written to a pipe (no duration, no cues)",
           [*V(), *A(), "-c:v", "libvpx", "-c:a", "libopus"], post=_through_pipe),
    Sample("mpeg2_ps", "mpeg2.mpg", "encoder default", "MPEG-2 video with MP2 in MPEG program stream",
           [*V(), *A(), "-c:v", "mpeg2video", "-c:a", "mp2"]),
    Sample("mpeg2_broadcast", "mpeg2-broadcast.ts", "broadcast", "interlaced MPEG-2 576i with AC-3 in MPEG-TS",
           [*V(size="720x576"), *A(), "-vf", "setfield=tff", "-c:v", "mpeg2video", "-b:v", "4M",
            "-flags", "+ildct+ilme", "-alternate_scan", "1",
            "-c:a", "ac3"], {"interlaced": True}),
    Sample("mpeg4_avi", "mpeg4.avi", "encoder default", "MPEG-4 Part 2 with MP3 in AVI",
           [*V(), *A(), "-c:v", "mpeg4", "-c:a", "libmp3lame"]),
    Sample("xvid_avi", "xvid.avi", "encoder default", "Xvid (MPEG-4 Part 2, B-frames) with MP3 in AVI",
           [*V(), *A(), "-c:v", "libxvid", "-bf", "2", "-c:a", "libmp3lame"]),
    Sample("mpeg4_mp4", "mpeg4.mp4", "encoder default", "MPEG-4 Part 2 with AAC in MP4",
           [*V(), *A(), "-c:v", "mpeg4", *_AAC]),
    Sample("msmpeg4_avi", "msmpeg4v3.avi", "legacy", "MS MPEG-4 v3 (DivX 3) in AVI",
           [*V(), *A(), "-c:v", "msmpeg4", "-c:a", "libmp3lame"]),
    Sample("theora_ogv", "theora.ogv", "encoder default", "Theora/Vorbis in Ogg",
           [*V(), *A(), "-c:v", "libtheora", "-c:a", "libvorbis"]),
    Sample("wmv_asf", "wmv2.wmv", "legacy", "WMV 8 with WMA 2 in ASF", [*V(), *A(rate=44100), "-c:v", "wmv2",
                                                                         "-c:a", "wmav2"]),
    Sample("flv1", "sorenson.flv", "legacy", "Sorenson Spark (FLV1) with MP3 in FLV",
           [*V(), *A(rate=44100), "-c:v", "flv", "-c:a", "libmp3lame"]),
    Sample("h263_3gp", "h263.3gp", "legacy phone", "H.263 QCIF with AMR-NB in 3GP",
           [*V(size="176x144", rate="15"), *A(rate=8000), "-c:v", "h263", "-c:a", "libopencore_amrnb",
            "-ac", "1", "-b:a", "12.2k"]),
    Sample("mjpeg_mov", "mjpeg.mov", "camera", "Motion JPEG (yuvj422p) with PCM in MOV",
           [*V(), *A(), "-c:v", "mjpeg", "-pix_fmt", "yuvj422p", "-c:a", "pcm_s16le"]),
    # --- HDR ----------------------------------------------------------------------------------------------------
    Sample("hdr10_hevc", "hdr10-hevc.mkv", "HDR", "HDR10: HEVC Main 10, BT.2020, PQ, mastering display + MaxCLL",
           [*V(), *A(), *_to_hdr("smpte2084"), "-c:v", "libx265", "-x265-params", _X265_PQ, *_AAC],
           {"hdr": "smpte2084"}),
    Sample("hlg_hevc", "hlg-hevc.mp4", "HDR", "HLG: HEVC Main 10, BT.2020, ARIB STD-B67",
           [*V(), *A(), *_to_hdr("arib-std-b67"), "-c:v", "libx265", "-x265-params",
            "colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc", *_AAC], {"hdr": "arib-std-b67"}),
    Sample("hdr10_h264", "hdr10-h264.mp4", "HDR", "10-bit H.264 tagged BT.2020 PQ",
           [*V(), *A(), *_to_hdr("smpte2084"), "-c:v", "libx264", "-x264-params",
            "transfer=smpte2084:colorprim=bt2020:colormatrix=bt2020nc", *_AAC], {"hdr": "smpte2084"}),
    # --- audio layouts, tracks, subtitles ------------------------------------------------------------------------
    Sample("surround_51_aac", "surround-51.mp4", "film", "5.1 AAC (stereo downmix for the ladder)",
           [*V(), *A(layout="5.1"), "-c:v", "libx264", *_AAC], {"channels": 6}),
    Sample("surround_51_ac3", "surround-51-ac3.mkv", "film", "5.1 AC-3 in Matroska",
           [*V(), *A(layout="5.1(side)"), "-c:v", "libx264", "-c:a", "ac3"], {"channels": 6}),
    Sample("eac3_mp4", "eac3.mp4", "streaming", "E-AC-3 5.1 in MP4",
           [*V(), *A(layout="5.1(side)"), "-c:v", "libx264", "-c:a", "eac3"], {"channels": 6}),
    Sample("two_audio_mkv", "two-audio.mkv", "film", "two audio tracks (eng, fra) in Matroska",
           [*V(), *A(), *A(freq=660), "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", *_AAC,
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra"], {"audio_tracks": 2}),
    Sample("subtitles_mkv", "subtitles.mkv", "film", "SubRip (eng) and ASS (fra) subtitle tracks in Matroska",
           [*V(), *A(), *_srt_input(), *_srt_input(), "-map", "0:v", "-map", "1:a", "-map", "2:s", "-map", "3:s",
            "-c:v", "libx264", *_AAC, "-c:s:0", "srt", "-c:s:1", "ass", "-metadata:s:s:0", "language=eng",
            "-metadata:s:s:1", "language=fra"], {"subtitles": 2}),
    Sample("subtitles_mp4", "subtitles.mp4", "phone", "3GPP timed text (mov_text) subtitle in MP4",
           [*V(), *A(), *_srt_input(), "-map", "0:v", "-map", "1:a", "-map", "2:s", "-c:v", "libx264", *_AAC,
            "-c:s", "mov_text", "-metadata:s:s:0", "language=eng"], {"subtitles": 1}),
    # --- audio only --------------------------------------------------------------------------------------------
    Sample("mp3_cover", "cover-art.mp3", "music", "MP3 with embedded cover art (attached picture)",
           [*A(rate=44100), "-c:a", "libmp3lame"], {"has_video": False}, post=_with_cover),
    Sample("m4a_cover", "cover-art.m4a", "music", "AAC in M4A with cover art",
           [*A(rate=44100), *_AAC], {"has_video": False}, post=_with_cover),
    Sample("aac_adts", "raw.aac", "encoder default", "raw AAC (ADTS)", [*A(), *_AAC], {"has_video": False}),
    Sample("opus_ogg", "opus.opus", "encoder default", "Opus in Ogg", [*A(), "-c:a", "libopus"],
           {"has_video": False}),
    Sample("vorbis_ogg", "vorbis.ogg", "encoder default", "Vorbis in Ogg", [*A(rate=44100), "-c:a", "libvorbis"],
           {"has_video": False}),
    Sample("flac_96k", "hires-96k-24bit.flac", "music", "FLAC 96 kHz / 24-bit",
           [*A(rate=96000), "-c:a", "flac", "-sample_fmt", "s32"], {"has_video": False}),
    Sample("alac_96k", "hires-96k-24bit.m4a", "music", "ALAC 96 kHz / 24-bit in M4A",
           [*A(rate=96000), "-c:a", "alac", "-sample_fmt", "s32p"], {"has_video": False}),
    Sample("wav_pcm16", "pcm16.wav", "encoder default", "PCM 16-bit WAV", [*A()], {"has_video": False}),
    Sample("wav_pcm24_96k", "pcm24-96k.wav", "studio", "PCM 24-bit 96 kHz WAV",
           [*A(rate=96000), "-c:a", "pcm_s24le"], {"has_video": False}),
    Sample("wav_mono_8k", "mono-8k.wav", "telephone", "mono 8 kHz PCM WAV",
           [*A(rate=8000), "-ac", "1"], {"has_video": False}),
    Sample("ac3_raw", "raw.ac3", "broadcast", "raw AC-3 5.1", [*A(layout="5.1(side)"), "-c:a", "ac3"],
           {"has_video": False, "channels": 6}),
    Sample("eac3_raw", "raw.eac3", "streaming", "raw E-AC-3 stereo", [*A(), "-c:a", "eac3"], {"has_video": False}),
    Sample("wma_asf", "audio.wma", "legacy", "WMA 2 in ASF", [*A(rate=44100), "-c:a", "wmav2"],
           {"has_video": False}),
    Sample("aiff", "audio.aiff", "studio", "AIFF (big-endian PCM)", [*A(rate=44100)], {"has_video": False}),
    Sample("mp2_audio", "audio.mp2", "broadcast", "MPEG-1 Layer II audio", [*A(), "-c:a", "mp2"],
           {"has_video": False}),
    Sample("opus_mka", "audio.mka", "encoder default", "Opus in Matroska audio", [*A(), "-c:a", "libopus"],
           {"has_video": False}),
)


def build(sample: Sample, directory: Path) -> Path:
    """Make (or reuse) the sample's file under `directory`; files appear atomically, so runs can share a cache."""
    root = Path(directory) / f"corpus-v{VERSION}"
    root.mkdir(parents=True, exist_ok=True)
    path = root / sample.filename
    if path.exists():
        return path
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        made = Path(tmp) / ("made-" + sample.filename if sample.post else sample.filename)
        run_ffmpeg([*sample.args, str(made)])
        final = made
        if sample.post is not None:
            final = Path(tmp) / sample.filename
            sample.post(made, final)
        os.replace(final, path)
    return path


SAMPLES_BY_NAME = {s.name: s for s in SAMPLES}

_DOC_HEAD = """# Formats: what vidpipe accepts, what comes out, what it refuses

Generated from the compatibility matrix (`tests/formats/test_matrix.py`): each row is a file made at test time
with the bundled FFmpeg, the way the named tool or device writes it (each encoder at its defaults unless the
shape says otherwise), pushed through the whole pipeline on both databases. Regenerate with
`VIDPIPE_UPDATE_DOCS=1 python -m pytest tests/formats -q`.

Every input that FFmpeg decodes should play: if one of yours fails with a reason that does not name a real
problem with the file, that is a bug — after upgrading, `vidpipe reprocess --failed` (or
`POST /v1/reprocess {"failed": true}`) runs every failed asset again from the probe.

## What comes out

- **Video**: an HLS ladder of H.264 rungs (MPEG-TS segments, aligned key frames), never above the source's
  size; constant frame rate (variable-rate phone clips are resampled); the display rotation applied
  (portrait stays portrait); interlaced sources deinterlaced (bwdif); HDR (PQ or HLG) tone-mapped to SDR
  BT.709 for the H.264 rungs, with the HDR metadata (transfer, primaries, mastering display, MaxCLL/MaxFALL)
  kept in the probe.
- **Audio**: AAC stereo at most (5.1 and 7.1 are downmixed for the ladder; the source layout stays in the
  metadata), resampled to 48 kHz when above; one audio track is muxed into every rung, several become
  alternate audio renditions with their languages.
- **Subtitles**: text subtitle tracks (SubRip, ASS/SSA, 3GPP timed text, WebVTT) become WebVTT subtitle
  renditions in the master playlist. Bitmap subtitles (DVD, Blu-ray PGS, DVB) are not converted.
- **Audio-only files**: one AAC rendition plus waveform peaks; cover art is ignored as a picture.

## The matrix

| input | imitates | container | video | audio | result | top rung and other renditions |
|---|---|---|---|---|---|---|
"""

_DOC_TAIL = """
## What is refused, and why

| input | reason given |
|---|---|
| an HLS/M3U playlist, DASH manifest, ffconcat or concat list, SDP, PLS | it points at other files or addresses (a local-file read or SSRF in disguise): upload the media itself |
| a still image (PNG, JPEG, GIF, WebP, HEIF, a single-picture video) | a still image is not a video |
| text, an empty file, random bytes | not a video or audio file (the detected format is named) |
| a container FFmpeg cannot demux or that is not on the allow-list (e.g. raw `.264` elementary streams, image sequences) | the accepted containers are listed in the message |
| a truncated upload (index or header beyond the data) | how much of the file is present, "was the upload interrupted?" |
| a picture above `VIDPIPE_LIMIT_MAX_FRAME_PIXELS`, more streams than `…_MAX_STREAMS`, longer than `…_MAX_DURATION_SECONDS` | the limit and the file's value |
| data FFmpeg itself cannot decode | which stream, which codec, and how much was read |

Accepted containers: """


def _codec_cell(probe: dict[str, Any], kind: str) -> str:
    streams = [s for s in probe.get("streams", []) if s["type"] == kind and not s.get("cover_art")]
    if not streams:
        return "—"
    s = streams[0]
    if kind == "video":
        extra = [s.get("pix_fmt") or "", f"{s['width']}x{s['height']}"]
        extra += [s["hdr_format"]] if s.get("hdr_format") else []
        extra += ["interlaced"] if s.get("interlaced") else []
        extra += [f"rot {probe['rotation']}°"] if probe.get("rotation") else []
        extra += ["VFR"] if probe.get("is_vfr") else []
        return f"{s['codec']} ({', '.join(e for e in extra if e)})"
    more = f" ×{len(streams)}" if len(streams) > 1 else ""
    return f"{s['codec']} {s.get('sample_rate')} Hz {s.get('channel_layout')}{more}"


def render_formats_doc(outcomes: dict[str, Any]) -> str:
    """docs/formats.md from the matrix's outcomes (only facts that do not vary between runs)."""
    from vidpipe.ffmpeg.safe_open import ACCEPTED_CONTAINERS

    rows = []
    for sample in SAMPLES:
        out = outcomes[sample.name]
        probe = out.info.probe if out.info else {}
        result = out.asset.status if out.asset.status == "ready" else f"{out.asset.status}: {out.asset.error_message}"
        # The top video rung (per-title may drop lower ones: their count is the title's, not the format's) and
        # every audio and subtitle rendition.
        video = [r.name for r in out.renditions if r.kind == "video"][:1]
        renditions = ", ".join(video + [r.name for r in out.renditions if r.kind != "video"]) or "—"
        container = f"{Path(sample.filename).suffix} ({(probe.get('format') or '?').split(',')[0]})"
        rows.append(f"| {sample.description} | {sample.kind} | {container} | {_codec_cell(probe, 'video')} | "
                    f"{_codec_cell(probe, 'audio')} | {result} | {renditions} |")
    return _DOC_HEAD + "\n".join(rows) + "\n" + _DOC_TAIL + ACCEPTED_CONTAINERS + ".\n"
