"""The transcode stage: one ffmpeg process decodes the source once and writes the whole HLS ladder.

The plan, the ffmpeg arguments, the master playlist and the waveform peaks are pure
(vidpipe.ffmpeg.hls, vidpipe.ffmpeg.playlists, vidpipe.ffmpeg.waveform); this module runs the process and collects
the files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import av

from vidpipe.contract import Output, RenditionInfo, StageInput, StageResult
from vidpipe.errors import JobCancelledError, MediaDecodeError
from vidpipe.ffmpeg import hls, per_title, playlists, vmaf, waveform
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.ffmpeg.process import ffmpeg_failure, popen_ffmpeg
from vidpipe.ffmpeg.safe_open import ffmpeg_input_args, open_input
from vidpipe.settings import Settings, TranscodeSettings
from vidpipe.stages import chunk_plan

log = logging.getLogger(__name__)
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
VTT_TYPE = "text/vtt"
_POLL_SECONDS = 0.2


def _probe(inp: StageInput) -> dict[str, Any]:
    return inp.probe if inp.probe is not None else probe_file(inp.source_path, inp.limits)


def progress_fraction(line: bytes, duration: float) -> float | None:
    """The fraction done from one `-progress` line (`out_time_us=...`), or None for any other line."""
    key, _, value = line.decode(errors="replace").strip().partition("=")
    if key != "out_time_us" or duration <= 0 or not value.lstrip("-").isdigit():
        return None
    return min(1.0, max(0.0, int(value) / 1e6 / duration))


def _read_progress(stream: IO[bytes], duration: float, latest: list[float]) -> None:
    for raw in stream:  # drain stdout so ffmpeg never blocks on it; the caller's thread reports
        fraction = progress_fraction(raw, duration)
        if fraction is not None:
            latest[0] = fraction


def _failure(returncode: int, stderr_text: str) -> Exception:
    # The ladder opens the source that `ffmpeg_input_args` opened just before (with that demuxer), or the shared
    # decode's scratch file: an input it cannot open is not bad data (an unreadable one fails in that open).
    return ffmpeg_failure("transcode", returncode, stderr_text, inputs_probed=True)


def run_ffmpeg_with_progress(args: list[str], *, duration: float, progress: Callable[[float], None],
                             should_stop: Callable[[], bool]) -> None:
    """Run ffmpeg reporting out_time as progress; stop it on request; map failures to our error family."""
    with tempfile.TemporaryFile() as err:
        proc = popen_ffmpeg(args, stdout=subprocess.PIPE, stderr=err)
        latest, reported = [0.0], 0.0
        reader = threading.Thread(target=_read_progress, args=(proc.stdout, duration, latest), daemon=True)
        reader.start()
        try:
            while proc.poll() is None:
                if should_stop():
                    raise JobCancelledError("transcode stopped on request")
                if latest[0] > reported:  # progress callbacks run on the caller's thread only
                    reported = latest[0]
                    progress(reported)
                time.sleep(_POLL_SECONDS)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            reader.join(timeout=5)
            if proc.stdout:
                proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise _failure(proc.returncode, err.read()[-8000:].decode(errors="replace"))


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


def _per_title(plan: hls.TranscodePlan, input_args: list[str], inp: StageInput, windows: list[vmaf.Window],
               decoded_video: Path | None = None, for_check: vmaf.WindowReference | None = None,
               ) -> tuple[hls.TranscodePlan, dict[str, Any], dict[str, dict[str, Any]]]:
    """Every rung's CRF for the profile's target and the rungs worth keeping, from trial encodes of the windows."""
    result = vmaf.analyse(plan, input_args, windows, target=inp.profile.target_vmaf,
                          min_vmaf_step=inp.profile.min_vmaf_step, work_dir=inp.work_dir, should_stop=inp.should_stop,
                          decoded_video=decoded_video, for_check=for_check)
    inp.progress(0.12)
    return result


def _checked_top(plan: hls.TranscodePlan, decision: dict[str, Any], quality: dict[str, dict[str, Any]],
                 input_args: list[str], windows: list[vmaf.Window], hls_dir: Path, inp: StageInput,
                 reference: vmaf.WindowReference, video_start: float | None, decoded: tuple[Path, float] | None,
                 ) -> tuple[hls.TranscodePlan, dict[str, Any], dict[str, dict[str, Any]]]:
    """Score the top rendition itself on the windows, against the trials' reference (the same frames before
    encoding); when it lies further from the target than the trials promised (per_title.needs_reencode), encode
    that rung again at the corrected CRF (from the shared decode when there is one, else from the source) and score
    it again. Returns the plan, decision and quality report with the rendition's own VMAF for the top rung. Only
    for an uncapped title whose windows came from one decode (the caller decides): a capped title's report already
    says it misses the target (a lower CRF would only meet the same cap)."""
    top = plan.rungs[0]
    target = float(decision["target_vmaf"])
    if video_start is None:
        log.warning("transcode.rendition_check_failed",
                    extra={"asset_id": str(inp.asset_id), "error": "the first frame's timestamp is unreadable"})
        return plan, decision, quality
    # A video that starts after the audio starts the rendition with that many repeated frames (cfr from 0). From
    # the decoded timestamp, within a frame: a video less than a frame late (an MPEG-TS whose video starts 0.5 frame
    # after its audio) is one frame late in a ladder that decodes the source itself, and none in the raw file.
    predicted = round(video_start * float(plan.fps or 25))

    def measure(crf: float | None, lead: int) -> dict[str, Any]:
        vmaf_ = vmaf.rendition_vmaf(hls_dir / top.name / "index.m3u8", reference, plan, windows, inp.work_dir,
                                    lead_frames=lead, should_stop=inp.should_stop)
        return {"crf": crf, "vmaf": round(vmaf_, 2)}

    checks: list[dict[str, Any]] = []
    decision = decision | {"rendition_checks": checks}
    estimate = float(quality[top.name]["vmaf"])
    try:
        # The predicted lead, else a frame either side: frames paired with their neighbours score tens of points
        # below the estimate (per_title.plausible_check), the right ones within a few.
        for lead in dict.fromkeys(max(0, predicted + step) for step in (0, 1, -1)):
            first = measure(top.crf, lead)
            if per_title.plausible_check(first["vmaf"], estimate):
                checks.append(first)
                break
        else:
            log.warning("transcode.rendition_check_implausible",
                        extra={"asset_id": str(inp.asset_id), "measured": first["vmaf"], "estimate": estimate})
            return plan, decision, quality
        if top.crf is not None and per_title.needs_reencode(checks[0]["vmaf"], target):
            crf = per_title.corrected_crf([per_title.Trial(**t) for t in decision["trials"]], top.crf,
                                          checks[0]["vmaf"], target)
            if crf != top.crf:
                top = dataclasses.replace(top, crf=crf)
                _encode_again(plan, top, input_args, hls_dir, inp, decoded)
                plan = dataclasses.replace(plan, rungs=(top, *plan.rungs[1:]))
                checks.append(measure(crf, lead))
    except MediaDecodeError as exc:  # the last measured rendition stands, else the trials' estimate
        log.warning("transcode.rendition_check_failed", extra={"asset_id": str(inp.asset_id), "error": str(exc)})
    measured = [c for c in checks if c["crf"] == top.crf]
    if not measured:  # the top rung was encoded again but not scored: the estimate stands, at its new CRF
        return plan, decision, quality | {top.name: quality[top.name] | {"crf": top.crf}}
    vmaf_ = measured[-1]["vmaf"]
    report = {"vmaf": vmaf_, "crf": top.crf, "measured_on": "rendition",
              "meets_target": not per_title.misses_target(vmaf_, target)}
    return plan, decision, quality | {top.name: quality[top.name] | report}


def _encode_again(plan: hls.TranscodePlan, rung: hls.PlannedRung, input_args: list[str], hls_dir: Path,
                  inp: StageInput, decoded: tuple[Path, float] | None) -> None:
    """Encode one rung alone (with its audio when the rungs carry it) and put it in place of the first one."""
    muxed = plan.mode == "muxed"
    alone = dataclasses.replace(plan, rungs=(rung,), subtitles=(), audio=plan.audio if muxed else (),
                                audio_filters=plan.audio_filters if muxed else ())
    out = inp.work_dir / "hls-again"
    shutil.rmtree(out, ignore_errors=True)
    (out / rung.name).mkdir(parents=True)
    run_ffmpeg_with_progress(hls.build_ffmpeg_args(alone, input_args, out, decoded_video=decoded),
                             duration=plan.duration, progress=lambda f: None, should_stop=inp.should_stop)
    shutil.rmtree(hls_dir / rung.name)
    (out / rung.name).rename(hls_dir / rung.name)
    shutil.rmtree(out)


def raw_bytes_per_pixel(plan: hls.TranscodePlan) -> float:
    """Bytes a pixel of the frames `hls.video_filters` outputs take raw: the decoder's pixel format (1.5 for 8-bit
    4:2:0, 3 for 10-bit 4:2:0, 6 for 16-bit 4:4:4), the tone map's 8-bit 4:2:0, or 6 when the format is unknown."""
    pix_fmt = "yuv420p" if plan.tonemap_from else plan.source_pix_fmt
    try:
        frame = av.VideoFrame(64, 64, pix_fmt or "")
    except ValueError:  # not a format PyAV knows
        return 6.0
    return sum(p.buffer_size for p in frame.planes) / (64 * 64)


def raw_video_bytes(plan: hls.TranscodePlan, probe: dict[str, Any]) -> float:
    """The whole decoded video's size, raw, in the pixel format the ladder reads (raw_bytes_per_pixel)."""
    width, height = probe.get("width") or 0, probe.get("height") or 0
    return width * height * raw_bytes_per_pixel(plan) * plan.duration * float(plan.fps or 0)


def reference_bytes(plan: hls.TranscodePlan, windows: list[vmaf.Window]) -> float:
    """The trials' reference kept for the top rendition's check: the windows' frames at the top rung's size, 8-bit
    4:2:0."""
    if not plan.rungs:
        return 0.0
    top = plan.rungs[0]
    return top.width * top.height * 1.5 * sum(w.seconds for w in windows) * float(plan.fps or 0)


def shares_decode(plan: hls.TranscodePlan, probe: dict[str, Any], windows: list[vmaf.Window], *, limit_bytes: int,
                  free_bytes: int, min_free_bytes: int) -> bool:
    """Whether the per-title analysis should keep the whole decoded video for the ladder: its windows come from
    one decode from the start anyway, and the raw frames fit in `limit_bytes` (the shared_decode_bytes setting)
    and leave the work dir's volume at least `min_free_bytes` free besides the trials' kept reference (the
    readiness minimum: a scratch file that fills the disk would fail this ladder and the next jobs; decoding twice
    costs only CPU). Tone-mapped (HDR) sources too: the ladder tags the frames it reads back with their colour
    (hls.picture_colour)."""
    size = raw_video_bytes(plan, probe)
    return (bool(plan.rungs) and vmaf.sequential(windows) and 0 < size <= limit_bytes
            and free_bytes - size - reference_bytes(plan, windows) >= min_free_bytes)


def decode_scratch(inp: StageInput) -> tuple[int, int]:
    """(shared_decode_bytes, ready_min_free_bytes) of the configuration; their defaults without one (a stage
    never reads the environment itself)."""
    if inp.settings is not None:
        return inp.settings.transcode.shared_decode_bytes, inp.settings.ready_min_free_bytes
    return (TranscodeSettings.model_fields["shared_decode_bytes"].default,
            Settings.model_fields["ready_min_free_bytes"].default)


def _shares(plan: hls.TranscodePlan, probe: dict[str, Any], windows: list[vmaf.Window], inp: StageInput) -> bool:
    limit, min_free = decode_scratch(inp)
    try:
        free = shutil.disk_usage(inp.work_dir).free
    except OSError:  # cannot tell: decode twice rather than risk the disk
        return False
    return shares_decode(plan, probe, windows, limit_bytes=limit, free_bytes=free, min_free_bytes=min_free)


def _normalised(plan: hls.TranscodePlan, probe: dict[str, Any], inp: StageInput
                ) -> tuple[hls.TranscodePlan, list[dict[str, Any]]]:
    """Each audio track measured and given the gain (and limiter) that brings it to the profile's target."""
    from vidpipe.analysis.normalize import normalise_tracks

    target = float(inp.profile.loudness_target_lufs)  # type: ignore[arg-type]
    done = normalise_tracks(inp.source_path, probe, [t.source_index for t in plan.audio], target,
                            inp.profile.loudness_peak_dbtp)
    return (dataclasses.replace(plan, audio_filters=tuple(n.filter for n in done)),
            [{"track": t.name, **n.as_dict(target)} for t, n in zip(plan.audio, done, strict=True)])


def decide(inp: StageInput) -> StageResult:
    """The per-title decision of a chunked transcode, as its own job (`transcode_decide`): the ladder the chunks
    after the first one's lowest rung are encoded with. The lowest rung is always kept (its start is out)."""
    fixed = chunk_plan.plan_from_json(inp.payload["plan"])
    input_args = ffmpeg_input_args(inp.source_path, max_frame_pixels=inp.limits.max_frame_pixels)
    try:
        plan, decision, quality = _per_title(fixed, input_args, inp, vmaf.sample_windows(fixed.duration))
    except MediaDecodeError as exc:  # an optimisation: the fixed ladder still plays
        log.warning("transcode.per_title_fallback", extra={"asset_id": str(inp.asset_id), "error": str(exc)})
        plan, decision, quality = fixed, {"mode": "fixed", "per_title_failed": str(exc)}, {}
    lowest = fixed.rungs[-1]
    if lowest.name not in {r.name for r in plan.rungs}:
        crf = decision.get("crf")
        keep = dataclasses.replace(lowest, crf=crf, cap_kbps=lowest.maxrate_kbps) if crf is not None else lowest
        plan = dataclasses.replace(plan, rungs=(*plan.rungs, keep))
    inp.progress(1.0)
    return StageResult(metadata={"decided_plan": chunk_plan.plan_to_json(plan), "ladder_decision": decision,
                                 "quality": quality})


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
            shared = _shares(plan, probe, windows, inp)
            try:
                plan, decision, quality = _per_title(plan, input_args, inp, windows, keep if shared else None,
                                                     reference if checkable else None)
                # Where the video starts against the audio, from the title's first decoded frame (kept beside the
                # windows): the ladder offsets the shared decode by it, and the check skips the frames it adds.
                video_start = vmaf.first_timestamp(reference.first_frame) if checkable else None
                decoded = (keep, video_start) if shared and video_start is not None else None
            except MediaDecodeError as exc:  # the trial encodes are an optimisation: the fixed ladder still plays
                log.warning("transcode.per_title_fallback",
                            extra={"asset_id": str(inp.asset_id), "error": str(exc)})
                decision = {"mode": "fixed", "per_title_failed": str(exc)}
            start = 0.12
        if chunk_plan.wanted(plan, inp):  # a long video: chunk jobs on many workers do the encoding
            return chunk_plan.planned(plan, inp, {"ladder_decision": decision, "quality": quality})
        args = hls.build_ffmpeg_args(plan, input_args, hls_dir, decoded_video=decoded)
        run_ffmpeg_with_progress(args, duration=plan.duration,
                                 progress=lambda f: inp.progress(start + f * (share - start) * 0.95),
                                 should_stop=inp.should_stop)
        # The kept reference exists only when the analysis could keep it (windows from one decode)
        if decision.get("mode") == "per_title" and quality and not decision["top_capped"] and reference.frames.exists():
            plan, decision, quality = _checked_top(plan, decision, quality, input_args, windows, hls_dir, inp,
                                                   reference, video_start, decoded)
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
