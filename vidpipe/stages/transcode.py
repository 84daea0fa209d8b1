"""The transcode stage: one ffmpeg process decodes the source once and writes the whole HLS ladder.

The plan, the ffmpeg arguments, the master playlist and the waveform peaks are pure
(vidpipe.ffmpeg.hls, vidpipe.ffmpeg.playlists, vidpipe.ffmpeg.waveform); this module runs the process and collects
the files. A per-title ladder is measured, and its top rendition checked, by vidpipe.stages.transcode_per_title.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from vidpipe.contract import Output, RenditionInfo, StageInput, StageResult
from vidpipe.errors import JobCancelledError, MediaDecodeError
from vidpipe.ffmpeg import hls, playlists, process, vmaf, waveform
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.ffmpeg.safe_open import ffmpeg_input_args, open_input
from vidpipe.stages import chunk_plan, transcode_per_title

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
VTT_TYPE = "text/vtt"


def _probe(inp: StageInput) -> dict[str, Any]:
    return inp.probe if inp.probe is not None else probe_file(inp.source_path, inp.limits)


def _rendition_files(hls_dir: Path, name: str) -> tuple[list[Path], int, int]:
    """Segment paths and (peak, average) bandwidth of one rendition, from its media playlist."""
    playlist = hls_dir / name / "index.m3u8"
    segments = playlists.parse_media_playlist(playlist.read_text()) if playlist.is_file() else []
    if not segments:
        raise MediaDecodeError(f"transcode produced no segments for {name}: the source has no decodable media")
    paths = [hls_dir / name / uri for uri, _ in segments]
    peak, avg = playlists.bandwidths([(p.stat().st_size, d) for p, (_, d) in zip(paths, segments, strict=True)])
    return paths, peak, avg


def _video_codec(name: str, ffmpeg_master: dict[str, dict[str, str]], first_segment: Path) -> str:
    codecs = ffmpeg_master.get(f"{name}/index.m3u8", {}).get("CODECS", "")
    avc = next((c for c in codecs.split(",") if c.startswith("avc1.")), None)
    if avc is None:  # ffmpeg's master left it out: read the SPS of the first segment
        with first_segment.open("rb") as fh:
            avc = playlists.avc1_codec_from_bytes(fh.read(64 * 1024)) or "avc1.640028"
    return avc


def _collect(plan: hls.TranscodePlan, hls_dir: Path) -> tuple[list[Output], list[hls.Variant]]:
    written = hls_dir / "master.m3u8"  # ffmpeg's: read for CODECS, then replaced by ours
    ffmpeg_master = playlists.parse_master(written.read_text()) if written.is_file() else {}
    outputs: list[Output] = []
    variants: list[hls.Variant] = []
    group = hls.AUDIO_GROUP if plan.mode == "groups" else None

    def add_files(rendition: str, segments: list[Path]) -> None:
        outputs.append(Output(f"hls/{rendition}/index.m3u8", hls_dir / rendition / "index.m3u8", "hls_playlist",
                              PLAYLIST_TYPE))
        outputs.extend(Output(f"hls/{rendition}/{p.name}", p, "hls_segment", SEGMENT_TYPE) for p in segments)

    audio_peak = audio_avg = 0
    if plan.mode in ("groups", "audio_only"):
        for track in plan.audio:
            segments, peak, avg = _rendition_files(hls_dir, track.name)
            audio_peak, audio_avg = max(audio_peak, peak), max(audio_avg, avg)
            variants.append(hls.Variant(track.name, "audio", f"{track.name}/index.m3u8", peak, hls.AAC_LC, avg,
                                        language=track.language, channels=track.channels, default=track.default,
                                        audio_group=group))
            add_files(track.name, segments)
    for rung in plan.rungs:  # a rung's BANDWIDTH includes the largest alternate audio it may play with
        segments, peak, avg = _rendition_files(hls_dir, rung.name)
        codecs = _video_codec(rung.name, ffmpeg_master, segments[0])
        if plan.audio:
            codecs += "," + hls.AAC_LC
        variants.append(hls.Variant(rung.name, "video", f"{rung.name}/index.m3u8", peak + audio_peak, codecs,
                                    avg + audio_avg, rung.width, rung.height, float(plan.fps or 0),
                                    audio_group=group))
        add_files(rung.name, segments)
    if plan.subtitles:
        first_pts = _first_pts_90k(hls_dir / plan.rungs[0].name / "index.m3u8")
        for sub in plan.subtitles:
            outputs += subtitle_files(hls_dir / sub.name, plan.duration, first_pts)
    return outputs, playlists.with_subtitles(variants, plan)


def _first_pts_90k(playlist: Path) -> int:
    """The first video timestamp of a rendition's first segment (our own output, so plain PyAV is fine)."""
    segments = playlists.parse_media_playlist(playlist.read_text())
    try:
        with av.open(str(playlist.parent / segments[0][0])) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.pts is not None:
                    return int(packet.pts * packet.time_base * 90000)
    except (av.error.FFmpegError, IndexError):
        pass
    return hls.MPEGTS_START_90K


def subtitle_files(directory: Path, duration: float, first_pts: int, key_prefix: str = "hls") -> list[Output]:
    """One subtitle rendition from the WebVTT ffmpeg wrote (hls.subtitle_args): the file with its X-TIMESTAMP-MAP
    (cue time 0 at MPEG-TS time `first_pts`), its one-segment playlist, both as outputs under `key_prefix`."""
    vtt = directory / hls.SUBTITLE_FILE
    text = vtt.read_text(encoding="utf-8", errors="replace") if vtt.is_file() else "WEBVTT\n"
    vtt.write_text(playlists.with_timestamp_map(text, first_pts), encoding="utf-8")
    playlist = directory / "index.m3u8"
    playlist.write_text(playlists.subtitle_playlist(duration))
    return [Output(f"{key_prefix}/{directory.name}/index.m3u8", playlist, "hls_playlist", PLAYLIST_TYPE),
            Output(f"{key_prefix}/{directory.name}/{hls.SUBTITLE_FILE}", vtt, "subtitles", VTT_TYPE)]


def _write_waveform(source: Path, track: hls.AudioTrack, duration: float, out: Path,
                    should_stop: Callable[[], bool]) -> None:
    """Decode the audio track to mono float32 (PyAV) and write its peaks as JSON."""
    try:
        with open_input(source) as container:
            stream = container.streams.audio[track.source_index]
            rate = stream.codec_context.sample_rate or 48000
            bits = (stream.codec_context.format.bits if stream.codec_context.format else 0) or 16
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            acc = waveform.PeakAccumulator(int(duration * rate) or rate)
            for n, frame in enumerate(container.decode(stream)):
                if n % 500 == 0 and should_stop():
                    raise JobCancelledError("transcode stopped on request")
                for out_frame in resampler.resample(frame):
                    acc.add(out_frame.to_ndarray())
            for out_frame in resampler.resample(None):
                acc.add(out_frame.to_ndarray())
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"cannot decode the audio for the waveform: {exc}") from exc
    doc = waveform.waveform_document(acc.peaks(), sample_rate=rate, samples=acc.count, bits=bits,
                                     samples_per_point=acc.samples_per_point)
    out.write_text(json.dumps(doc, separators=(",", ":")))


def _rendition_info(v: hls.Variant, quality: dict[str, dict[str, Any]]) -> RenditionInfo:
    return RenditionInfo(name=v.name, kind=v.kind, playlist_key=f"hls/{v.uri}", width=v.width, height=v.height,
                         bandwidth=v.bandwidth, codecs=v.codecs, language=v.language, quality=quality.get(v.name))


def _normalised(plan: hls.TranscodePlan, probe: dict[str, Any], inp: StageInput
                ) -> tuple[hls.TranscodePlan, list[dict[str, Any]]]:
    """Each audio track measured and given the gain (and limiter) that brings it to the profile's target."""
    from vidpipe.analysis.normalize import normalise_tracks

    target = float(inp.profile.loudness_target_lufs)  # type: ignore[arg-type]
    done = normalise_tracks(inp.source_path, probe, [t.source_index for t in plan.audio], target,
                            inp.profile.loudness_peak_dbtp)
    return (dataclasses.replace(plan, audio_filters=tuple(n.filter for n in done)),
            [{"track": t.name, **n.as_dict(target)} for t, n in zip(plan.audio, done, strict=True)])


def run(inp: StageInput) -> StageResult:
    """Transcode the source into an HLS ladder (plus waveform.json for audio-only assets)."""
    probe = _probe(inp)
    plan = hls.plan_transcode(probe, inp.profile)
    loudness = None
    if inp.profile.loudness_target_lufs is not None and plan.audio:
        plan, loudness = _normalised(plan, probe, inp)
    hls_dir = inp.work_dir / "hls"
    for rendition in [r.name for r in plan.rungs] + [a.name for a in plan.audio] + [t.name for t in plan.subtitles]:
        (hls_dir / rendition).mkdir(parents=True, exist_ok=True)
    audio_only = plan.mode == "audio_only"
    share = 0.85 if audio_only else 1.0  # the waveform decode is the rest
    # The source is untrusted: pinned demuxer from an allow-list, local file protocol only, pixel cap.
    input_args = ffmpeg_input_args(inp.source_path, max_frame_pixels=inp.limits.max_frame_pixels)
    windows = vmaf.sample_windows(plan.duration)
    decision: dict[str, Any] = {"mode": "fixed"}
    quality: dict[str, dict[str, Any]] = {}
    start = 0.0
    if chunk_plan.wanted(plan, inp) and inp.profile.ladder_mode == "per_title":
        # A long video: the per-title trials become a job of their own, beside the first chunk's lowest rung
        return chunk_plan.planned(plan, inp, {"ladder_decision": {"mode": "per_title", "pending": True}}, decide=True)
    keep = inp.work_dir / "decoded-video.nut"  # scratch: removed however the stage ends
    # The trials' reference, kept for the top rendition's check (windows from one decode only: picked by number)
    reference = vmaf.WindowReference(inp.work_dir / "windows-reference.nut", inp.work_dir / "first-frame.nut")
    checkable = vmaf.sequential(windows)  # windows from one decode: the reference and first frame can be kept
    decoded: tuple[Path, float] | None = None
    video_start: float | None = None
    try:
        if plan.rungs and inp.profile.ladder_mode == "per_title":
            shared = transcode_per_title.shares(plan, probe, windows, inp)
            try:
                plan, decision, quality = transcode_per_title.analyse(
                    plan, input_args, inp, windows, keep if shared else None, reference if checkable else None)
                # Where the video starts against the audio, from the title's first decoded frame (kept beside the
                # windows): the ladder offsets the shared decode by it, and the check skips the frames it adds.
                video_start = vmaf.first_timestamp(reference.first_frame) if checkable else None
                decoded = (keep, video_start) if shared and video_start is not None else None
            except MediaDecodeError as exc:
                decision = transcode_per_title.fallback_decision(inp, exc)
            start = 0.12
        if chunk_plan.wanted(plan, inp):  # a long video: chunk jobs on many workers do the encoding
            return chunk_plan.planned(plan, inp, {"ladder_decision": decision, "quality": quality})
        args = hls.build_ffmpeg_args(plan, input_args, hls_dir, decoded_video=decoded)
        process.run_with_progress(args, duration=plan.duration,
                                  progress=lambda f: inp.progress(start + f * (share - start) * 0.95),
                                  should_stop=inp.should_stop)
        # The kept reference exists only when the analysis could keep it (windows from one decode)
        if decision.get("mode") == "per_title" and quality and not decision["top_capped"] and reference.frames.exists():
            plan, decision, quality = transcode_per_title.checked_top(
                plan, decision, quality, input_args, windows, hls_dir, inp, reference, video_start, decoded)
    finally:
        keep.unlink(missing_ok=True)
        reference.remove()
    outputs, variants = _collect(plan, hls_dir)
    master = hls_dir / "master.m3u8"
    master.write_text(playlists.build_master_playlist(variants))
    outputs.insert(0, Output("hls/master.m3u8", master, "hls_master", PLAYLIST_TYPE))
    if audio_only:
        wave = inp.work_dir / "waveform.json"
        _write_waveform(inp.source_path, plan.audio[0], plan.duration, wave, inp.should_stop)
        outputs.append(Output("waveform.json", wave, "waveform", "application/json"))
    inp.progress(1.0)
    ladder = [{"name": r.name, "width": r.width, "height": r.height, "video_kbps": r.video_kbps, "crf": r.crf,
               "maxrate_kbps": r.maxrate_kbps, "audio_kbps": r.audio_kbps if plan.mode == "muxed" else None}
              for r in plan.rungs]
    metadata = {"ladder": ladder, "segment_seconds": plan.segment_seconds, "segment_format": "mpegts",
                "fps": float(plan.fps) if plan.fps else None, "audio_mode": plan.mode,
                "audio": [{"name": a.name, "language": a.language} for a in plan.audio],
                "subtitles": [{"name": t.name, "language": t.language} for t in plan.subtitles],
                "deinterlaced": plan.deinterlace, "tone_mapped_from": plan.tonemap_from, "ladder_decision": decision,
                "quality": quality} | ({"loudness_normalisation": loudness} if loudness is not None else {})
    return StageResult(outputs=outputs, renditions=[_rendition_info(v, quality) for v in variants], metadata=metadata)
