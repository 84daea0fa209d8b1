"""The join of a chunked transcode: VOD media playlists from every chunk's segments, a master with the
bandwidths measured on them (and the subtitle renditions the audio job wrote), the renditions. Nothing is decoded
or encoded: the segments are published already."""

from __future__ import annotations

import logging

from vidpipe.contract import Output, RenditionInfo, StageInput, StageResult
from vidpipe.ffmpeg import chunk_hls, hls, playlists
from vidpipe.ffmpeg.chunk_hls import SegmentEntry
from vidpipe.stages.chunk_plan import PLAYLIST_TYPE, entries_from_json, plan_from_json, run_dir

log = logging.getLogger(__name__)
DURATION_TOLERANCE = 0.1  # seconds between the joined playlists and the planned (source) duration


def master_text(plan: hls.TranscodePlan, run_id: int, rungs: dict[str, list[SegmentEntry]],
                audio: dict[str, list[SegmentEntry]], codecs: dict[str, str], *, subtitles: bool = False
                ) -> tuple[str, list[hls.Variant]]:
    """The master playlist (alternate audio, every rung; the plan's subtitle tracks when `subtitles`, i.e. the
    audio job has published them) with BANDWIDTH measured on the segments given."""
    prefix = f"r{run_id}"
    group = hls.AUDIO_GROUP if audio else None
    variants: list[hls.Variant] = []
    audio_peak = audio_avg = 0
    for track in plan.audio:
        if track.name not in audio:
            continue
        peak, avg = chunk_hls.bandwidths(audio[track.name])
        audio_peak, audio_avg = max(audio_peak, peak), max(audio_avg, avg)
        variants.append(hls.Variant(track.name, "audio", f"{prefix}/{track.name}/index.m3u8", peak, hls.AAC_LC, avg,
                                    language=track.language, channels=track.channels, default=track.default,
                                    audio_group=group))
    for rung in plan.rungs:
        peak, avg = chunk_hls.bandwidths(rungs[rung.name])
        codec = codecs.get(rung.name, "avc1.640028") + ("," + hls.AAC_LC if group else "")
        variants.append(hls.Variant(rung.name, "video", f"{prefix}/{rung.name}/index.m3u8", peak + audio_peak, codec,
                                    avg + audio_avg, rung.width, rung.height, float(plan.fps or 0),
                                    audio_group=group))
    if subtitles:
        variants = playlists.with_subtitles(variants, plan, prefix=f"{prefix}/")
    return playlists.build_master_playlist(variants), variants


def run(inp: StageInput) -> StageResult:
    p = inp.payload
    plan, run_id = plan_from_json(p["plan"]), p["run"]
    rungs = {name: entries_from_json(rows) for name, rows in p["video"].items()}
    audio = {name: entries_from_json(rows) for name, rows in p["audio"].items()}
    base = run_dir(run_id)
    outputs: list[Output] = []
    for name, entries in [*rungs.items(), *audio.items()]:
        path = inp.work_dir / name / "index.m3u8"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(chunk_hls.media_playlist(entries, complete=True))
        outputs.append(Output(f"{base}/{name}/index.m3u8", path, "hls_playlist", PLAYLIST_TYPE))
    text, variants = master_text(plan, run_id, rungs, audio, p.get("codecs") or {},
                                 subtitles=bool(p.get("subtitles")))
    master = inp.work_dir / "master.m3u8"
    master.write_text(text)
    outputs.insert(0, Output("hls/master.m3u8", master, "hls_master", PLAYLIST_TYPE))
    durations = {name: round(sum(e.duration for e in entries), 3) for name, entries in rungs.items()}
    off = {name: d for name, d in durations.items() if abs(d - plan.duration) > DURATION_TOLERANCE}
    if off:  # kept (it plays), but said: the planned frames and the encoded ones disagree
        log.warning("transcode.join_duration_off", extra={"asset_id": str(inp.asset_id), "planned": plan.duration,
                                                           "joined": off})
    quality = p.get("quality") or {}  # the per-title decision's sampled VMAF, made in the transcode job
    renditions = [RenditionInfo(name=v.name, kind=v.kind, playlist_key=f"hls/{v.uri}", width=v.width,
                                height=v.height, bandwidth=v.bandwidth, codecs=v.codecs, language=v.language,
                                quality=quality.get(v.name)) for v in variants]
    inp.progress(1.0)
    return StageResult(outputs=outputs, renditions=renditions, metadata={
        "chunked": {"run": run_id, "chunks": p["chunks"], "durations": durations},
        "segment_seconds": plan.segment_seconds, "segment_format": "mpegts", "audio_mode": "groups",
        "subtitles": [{"name": v.name, "language": v.language} for v in variants if v.kind == "subtitles"]})
