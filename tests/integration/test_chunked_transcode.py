"""A long video (made long by the settings: 10 s is "long" here) goes through chunk jobs, an audio job and a join:
continuous timestamps across chunk boundaries, exact duration, playable before ready; short videos keep one job."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import av
import pytest
from sqlalchemy import select

from vidpipe.api import views
from vidpipe.contract import StageResult
from vidpipe.db.models import Artifact, Asset, Event, Job
from vidpipe.ffmpeg import hls, playlists, samples
from vidpipe.ffmpeg.probe import probe_file
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.ingest.service import IngestRequest, ingest_path
from vidpipe.jobs import chunked, queue
from vidpipe.jobs.queue import ClaimedJob
from vidpipe.jobs.reprocess import reprocess_asset
from vidpipe.jobs.runner import JobRun, StageRunner
from vidpipe.jobs.worker import Worker

SECONDS = 25.0


@pytest.fixture
def chunk_settings(settings):
    # preview profile: 2 s segments; 6 s chunks after a 2 s first chunk -> 5 chunk jobs for 25 s
    t = settings.transcode
    t.chunk_threshold_seconds, t.chunk_seconds, t.first_chunk_seconds = 10.0, 6.0, 2.0
    return settings


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("chunked-media")
    return samples.make_video(d / "long.mp4", width=480, height=270, seconds=SECONDS, fps=30000 / 1001,
                              scene_seconds=2.5)


def _ingest(rt, path: Path) -> uuid.UUID:
    return ingest_path(rt, path, IngestRequest(source_kind="path", profile="preview"), roots=[path.parent]).asset.id


def _run_until_terminal(rt, asset_id: uuid.UUID, timeout: float = 240) -> tuple[Asset, list[bool]]:
    """Run a worker until the asset is ready or failed; returns it and the `playable` flags seen while processing."""
    worker = Worker(rt, concurrency=2)
    worker.start()
    seen: list[bool] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with rt.db.session() as s:
                view = views.load_asset(s, asset_id, None)
            if view.status in ("ready", "failed"):
                break
            seen.append(view.playable)
            time.sleep(0.1)
    finally:
        worker.request_stop()
        worker.join(timeout=30)
    with rt.db.session() as s:
        return s.get(Asset, asset_id), seen


def _packets(path: Path, kind: str) -> list[tuple[int, bool]]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [(p.pts, p.is_keyframe) for p in c.demux(stream) if p.pts is not None]


def test_a_long_video_is_chunked_joined_and_continuous(runtime, chunk_settings, long_clip):
    rt = runtime
    asset_id = _ingest(rt, long_clip)
    asset, seen = _run_until_terminal(rt, asset_id)
    assert asset.status == "ready", asset.error_message
    with rt.db.session() as s:
        jobs = s.scalars(select(Job).where(Job.asset_id == asset_id)).all()
        playable_at = s.scalars(select(Event.at).where(Event.asset_id == asset_id,
                                                       Event.event == "asset.playable")).all()
        join_done = s.scalar(select(Job.finished_at).where(Job.asset_id == asset_id, Job.stage == "transcode_join"))
    chunks = sorted((j for j in jobs if j.stage == "transcode_chunk"), key=lambda j: j.part)
    assert [j.part for j in chunks] == list(range(5)) and all(j.status == "succeeded" for j in chunks)
    assert [j.status for j in jobs if j.stage in ("transcode_audio", "transcode_join")] == ["succeeded"] * 2
    assert len(playable_at) == 1 and playable_at[0] < join_done  # playable before the join made it complete

    hls_root = rt.settings.media_root / str(asset_id) / "hls"
    master = playlists.parse_master((hls_root / "master.m3u8").read_text())
    video_uri = next(u for u, a in master.items() if "RESOLUTION" in a)
    audio_uri = next(u for u, a in master.items() if a.get("TYPE") == "AUDIO")
    assert int(master[video_uri]["BANDWIDTH"]) > 0 and master[video_uri]["AUDIO"] == hls.AUDIO_GROUP
    text = (hls_root / video_uri).read_text()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    segments = playlists.parse_media_playlist(text)
    source = probe_file(long_clip, rt.settings.limits)
    duration = source["duration"] if isinstance(source, dict) else source.duration
    assert abs(sum(d for _, d in segments) - duration) <= 0.1
    assert [u for u, _ in segments] == [f"seg_{n:05d}.ts" for n in range(1, len(segments) + 1)]

    # Across every chunk boundary: each segment starts on a key frame exactly one frame after the last one.
    frame = round(90000 * 1001 / 30000)
    previous = None
    for uri, _ in segments:
        packets = _packets(hls_root / Path(video_uri).parent / uri, "video")
        pts = sorted(p for p, _ in packets)
        assert packets[0][1], f"{uri} does not start on a key frame"
        if previous is not None:
            assert abs(pts[0] - previous - frame) <= 1, (uri, pts[0], previous)
        assert all(b - a in (frame - 1, frame, frame + 1) for a, b in zip(pts, pts[1:], strict=False))
        previous = pts[-1]
    # The audio is one encode: no gap or overlap anywhere (AAC frames of 1024 samples).
    audio_segments = playlists.parse_media_playlist((hls_root / audio_uri).read_text())
    audio_pts = [p for uri, _ in audio_segments for p, _ in _packets(hls_root / Path(audio_uri).parent / uri, "audio")]
    steps = {round(b - a) for a, b in zip(audio_pts, audio_pts[1:], strict=False)}
    assert steps <= {1920}, steps  # 1024 samples at 48 kHz in 90 kHz ticks


def test_a_short_video_keeps_the_single_job(runtime, chunk_settings, tmp_path):
    clip = samples.make_video(tmp_path / "short.mp4", width=320, height=180, seconds=4)
    asset_id = _ingest(runtime, clip)
    asset, _ = _run_until_terminal(runtime, asset_id)
    assert asset.status == "ready", asset.error_message
    with runtime.db.session() as s:
        stages = sorted(s.scalars(select(Job.stage).where(Job.asset_id == asset_id)).all())
    assert stages == ["analyze", "probe", "thumbnails", "transcode"]


def test_per_title_runs_beside_the_first_chunk_and_its_ladder_encodes_the_rest(runtime, chunk_settings, tmp_path):
    rt = runtime
    clip = samples.make_video(tmp_path / "pt.mp4", width=854, height=480, seconds=20, scene_seconds=2.5)
    asset_id = ingest_path(rt, clip, IngestRequest(source_kind="path", profile="standard"),
                           roots=[clip.parent]).asset.id
    asset, _ = _run_until_terminal(rt, asset_id, timeout=400)
    assert asset.status == "ready", asset.error_message
    with rt.db.session() as s:
        jobs = s.scalars(select(Job).where(Job.asset_id == asset_id)).all()
        decide = next(j for j in jobs if j.stage == "transcode_decide")
        first = next(j for j in jobs if j.stage == "transcode_chunk" and j.part == 0)
        playable_at = s.scalar(select(Event.at).where(Event.asset_id == asset_id, Event.event == "asset.playable"))
        renditions = {r.name: r for r in s.get(Asset, asset_id).renditions}
    assert decide.status == "succeeded"
    # the first chunk's lowest rung went at the fixed rate, without waiting for the trials
    assert first.payload["rungs"] == ["360p"] and first.payload["plan"]["rungs"][-1]["crf"] is None
    assert first.started_at < decide.finished_at
    later = [j for j in jobs if j.stage == "transcode_chunk" and j.part > 0]
    assert later and all(j.payload["plan"] == decide.payload["decided_plan"] for j in later)
    assert all(j.payload["plan"]["rungs"][0]["crf"] is not None for j in later)
    top = decide.payload["decided_plan"]["rungs"][0]["name"]
    assert "360p" in renditions  # the lowest rung stays, whatever per-title keeps: its start was out already
    assert renditions[top].quality is not None and renditions[top].quality["target_vmaf"] == 93.0
    assert playable_at is not None
    hls_root = rt.settings.media_root / str(asset_id) / "hls"
    master = playlists.parse_master((hls_root / "master.m3u8").read_text())
    source = probe_file(clip, rt.settings.limits)
    duration = source["duration"] if isinstance(source, dict) else source.duration
    for uri, attrs in master.items():
        if "RESOLUTION" in attrs:
            segments = playlists.parse_media_playlist((hls_root / uri).read_text())
            assert abs(sum(d for _, d in segments) - duration) <= 0.1, uri


def _subtitled(d: Path, *, audio: bool) -> Path:
    """12 s (three chunks here) with an English SubRip track and a French one; cues before and after the first
    chunk boundary (2 s)."""
    clip = samples.make_video(d / "plain.mp4", width=320, height=180, seconds=12, fps=25, scene_seconds=3,
                              audio=audio)
    eng, fra = d / "eng.srt", d / "fra.srt"
    eng.write_text("1\n00:00:00,500 --> 00:00:01,500\nHello\n\n2\n00:00:08,000 --> 00:00:09,250\nLater on\n")
    fra.write_text("1\n00:00:03,000 --> 00:00:04,000\nBonjour\n")
    out = d / "subtitled.mkv"
    run_ffmpeg(["-i", str(clip), "-i", str(eng), "-i", str(fra), "-map", "0", "-map", "1", "-map", "2", "-c", "copy",
                "-c:s", "srt", "-metadata:s:s:0", "language=eng", "-metadata:s:s:1", "language=fra",
                "-metadata:s:s:1", "title=Français", str(out)])
    return out


@pytest.mark.parametrize("audio", [True, False], ids=["with-audio", "video-only"])
def test_subtitles_of_a_chunked_video_are_webvtt_renditions(runtime, chunk_settings, tmp_path, audio):
    rt = runtime
    source = _subtitled(tmp_path, audio=audio)
    asset_id = _ingest(rt, source)
    asset, _ = _run_until_terminal(rt, asset_id)
    assert asset.status == "ready", asset.error_message
    with rt.db.session() as s:
        stages = [j.stage for j in s.scalars(select(Job).where(Job.asset_id == asset_id)).all()]
        renditions = {r.name: r for r in s.get(Asset, asset_id).renditions}
    assert stages.count("transcode_chunk") == 3 and stages.count("transcode_audio") == 1  # chunked, subs by audio job
    assert {n: (r.kind, r.language) for n, r in renditions.items() if r.kind == "subtitles"} == {
        "subs_eng": ("subtitles", "eng"), "subs_fra": ("subtitles", "fra")}

    hls_root = rt.settings.media_root / str(asset_id) / "hls"
    text = (hls_root / "master.m3u8").read_text()
    master = playlists.parse_master(text)
    subs = {a["LANGUAGE"]: (u, a) for u, a in master.items() if a.get("TYPE") == "SUBTITLES"}
    assert set(subs) == {"eng", "fra"} and subs["fra"][1]["NAME"] == "Français"
    assert all(a["GROUP-ID"] == playlists.SUBTITLE_GROUP for _, a in subs.values())
    rungs = [a for a in master.values() if "RESOLUTION" in a]
    assert rungs and all(a.get("SUBTITLES") == playlists.SUBTITLE_GROUP for a in rungs)
    for uri, _ in subs.values():  # the playlists and files exist where the master says, as renditions say
        assert uri.startswith("r") and renditions[Path(uri).parent.name].playlist_key == f"{asset_id}/hls/{uri}"
        playlist = (hls_root / uri).read_text()
        assert playlists.parse_media_playlist(playlist) == [(hls.SUBTITLE_FILE, pytest.approx(12.0, abs=0.1))]

    # Cue times as in the source, mapped onto the video's timestamps: time 0 is the first frame's PTS.
    video_uri = next(u for u, a in master.items() if "RESOLUTION" in a)
    first_segment = playlists.parse_media_playlist((hls_root / video_uri).read_text())[0][0]
    first_pts = _packets(hls_root / Path(video_uri).parent / first_segment, "video")[0][0]
    eng = (hls_root / Path(subs["eng"][0]).parent / hls.SUBTITLE_FILE).read_text()
    assert eng.startswith("WEBVTT\n") and f"X-TIMESTAMP-MAP=MPEGTS:{first_pts},LOCAL:00:00:00.000" in eng
    assert "00:00.500 --> 00:01.500\nHello" in eng and "00:08.000 --> 00:09.250\nLater on" in eng
    fra = (hls_root / Path(subs["fra"][0]).parent / hls.SUBTITLE_FILE).read_text()
    assert "00:03.000 --> 00:04.000\nBonjour" in fra and "Hello" not in fra


def _stored(rt, asset_id: uuid.UUID) -> set[str]:
    root = rt.settings.media_root
    return {str(p.relative_to(root)) for p in (root / str(asset_id) / "hls").rglob("*") if p.is_file()}


@pytest.mark.parametrize("before", ["chunked", "single"])
def test_a_reprocess_keeps_the_old_run_playing_until_its_join_then_deletes_it(runtime, chunk_settings, tmp_path,
                                                                              before):
    rt = runtime
    threshold = chunk_settings.transcode.chunk_threshold_seconds
    if before == "single":  # e.g. the threshold was lowered since: the old files are a single job's ladder
        chunk_settings.transcode.chunk_threshold_seconds = None
    source = _subtitled(tmp_path, audio=True)
    asset_id = _ingest(rt, source)
    assert _run_until_terminal(rt, asset_id)[0].status == "ready"
    old = _stored(rt, asset_id) - {f"{asset_id}/hls/master.m3u8"}
    old_run = {Path(k).parts[2] for k in old}  # chunked: hls/r<run>/...; single: hls/360p/..., hls/subs_eng/...
    assert any(k.endswith(".vtt") for k in old) and (len(old_run) == 1) == (before == "chunked")
    chunk_settings.transcode.chunk_threshold_seconds = threshold
    with rt.db.session() as s, s.begin():
        reprocess_asset(s, asset_id, "transcode", actor="test")

    # While the new run encodes, the old one plays on: every one of its files is there until the join succeeded
    # (files looked at first, the join after: a missing file seen before an unfinished join is a real failure).
    worker = Worker(rt, concurrency=1)
    worker.start()
    samples_seen = 0
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            present = _stored(rt, asset_id) >= old
            with rt.db.session() as s:
                joins = s.scalars(select(Job.status).where(Job.asset_id == asset_id,
                                                           Job.stage == "transcode_join")).all()
                status = s.get(Asset, asset_id).status
            joined = joins.count("succeeded") == (2 if before == "chunked" else 1)
            assert present or joined, "a file of the old run was deleted before the new run's join"
            samples_seen += not joined
            if joined and status in ("ready", "failed"):
                break
            time.sleep(0.05)
    finally:
        worker.request_stop()
        worker.join(timeout=30)
    assert samples_seen > 3  # the invariant was looked at while the new run was encoding

    # Then the old run is gone, from the store and the artifacts; the new run is complete and plays.
    files = _stored(rt, asset_id)
    with rt.db.session() as s:
        assert s.get(Asset, asset_id).status == "ready"
        recorded = set(s.scalars(select(Artifact.key).where(Artifact.asset_id == asset_id,
                                                            Artifact.key.like(f"{asset_id}/hls/%"))).all())
        renditions = s.get(Asset, asset_id).renditions
    assert not files & old and not {Path(k).parts[2] for k in files if k.count("/") > 2} & old_run
    assert files == recorded  # every stored file recorded, every recorded file stored
    master = (rt.settings.media_root / str(asset_id) / "hls" / "master.m3u8").read_text()
    assert old_run.isdisjoint(u.split("/")[0] for u in playlists.parse_master(master))
    assert {r.kind for r in renditions} == {"video", "audio", "subtitles"}
    assert all(r.playlist_key.removeprefix(f"{asset_id}/hls/").split("/")[0] not in old_run for r in renditions)


def test_a_run_superseded_by_a_reprocess_publishes_queues_and_deletes_nothing(runtime, chunk_settings, tmp_path):
    """Parts still running when the asset is reprocessed finish into the void: no playlist of theirs replaces the
    new run's, no join of theirs is queued (it would delete the new run's files)."""
    rt = runtime
    clip = samples.make_video(tmp_path / "c.mp4", width=320, height=180, seconds=12, fps=25, scene_seconds=3)
    asset_id = _ingest(rt, clip)
    assert _run_until_terminal(rt, asset_id)[0].status == "ready"
    files, master = _stored(rt, asset_id), (rt.settings.media_root / str(asset_id) / "hls" / "master.m3u8")
    before = master.read_text()
    with rt.db.session() as s, s.begin():
        part = s.scalars(select(Job).where(Job.asset_id == asset_id, Job.stage == "transcode_chunk",
                                           Job.part == 1)).one()
        join = s.scalars(select(Job).where(Job.asset_id == asset_id, Job.stage == "transcode_join")).one()
        claimed = ClaimedJob(join.id, asset_id, join.stage, 1, 5, join.payload, False)
        assert chunked.after_join(s, rt, claimed, StageResult(), "test") == []  # its own run: nothing earlier
        newer = queue.enqueue(s, asset_id, "transcode", actor="test")  # the reprocess (not run here)
        assert newer is not None and newer > part.payload["run"]
        chunked.after_part(s, rt, ClaimedJob(part.id, asset_id, part.stage, 1, 5, part.payload, False),
                           StageResult(metadata={"segments": part.payload["segments"]}), "test")
        # the new run's first segment is in: the old run's join (had it been queued) must leave it alone
        new_key = f"{asset_id}/hls/r{newer}/360p/seg_00001.ts"
        s.add(Artifact(asset_id=asset_id, stage="transcode_chunk.0", kind="hls_segment", key=new_key,
                       content_type="video/mp2t", size_bytes=1))
        s.flush()
        assert chunked.after_join(s, rt, claimed, StageResult(), "test") == []
        assert s.scalar(select(Artifact.id).where(Artifact.key == new_key)) is not None
        joins = s.scalars(select(Job.status).where(Job.asset_id == asset_id, Job.stage == "transcode_join")).all()
    assert joins == ["succeeded"]  # every part succeeded, yet no second join: the run is superseded
    assert master.read_text() == before and _stored(rt, asset_id) == files


def _drive(rt, runner: StageRunner, hold=lambda job: False) -> list[ClaimedJob]:
    """Run every job there is, one at a time on this thread, as the runner's worker; the jobs `hold` picks stay
    claimed and unrun (parts on a slow worker): there is no worker here whose sweep would reclaim them."""
    held = []
    while True:
        with rt.db.session() as s, s.begin():
            job = queue.claim(s, runner.worker_id, lease_seconds=3600)
        if job is None:
            return held
        if hold(job):
            held.append(job)
        else:
            assert runner.run(JobRun(job)) == "succeeded", job.stage


def test_a_superseded_part_that_ends_after_the_new_join_leaves_no_files(runtime, chunk_settings, tmp_path):
    """Parts of the old run still encoding on a slow worker when the asset is reprocessed: one that ends before the
    new run's join is cleared by that join; one that ends after it takes its files with it. Nothing of the new run
    goes: the asset is ready and plays the new run."""
    rt = runtime
    asset_id = _ingest(rt, _subtitled(tmp_path, audio=True))  # 12 s: chunks of 2, 6 and 4 s, one rung: parts 0-2
    runner = StageRunner(rt, "slow")
    held = _drive(rt, runner, hold=lambda j: j.stage == "transcode_chunk" and j.payload["part"] in (1, 2))
    early, late = sorted(held, key=lambda j: j.payload["part"])
    old_dir = f"{asset_id}/hls/r{early.payload['run']}/"
    with rt.db.session() as s, s.begin():  # the new run has parts 0-2 too: its part 2 queues beside the late one
        reprocess_asset(s, asset_id, "transcode", actor="test")

    # Before the new run's join (not even planned yet): its files stay, recorded for that join to delete.
    before = _stored(rt, asset_id)
    assert runner.run(JobRun(early)) == "succeeded"
    early_files = _stored(rt, asset_id) - before
    with rt.db.session() as s:
        recorded = set(s.scalars(select(Artifact.key).where(Artifact.asset_id == asset_id)).all())
    assert early_files and all(k.startswith(old_dir) for k in early_files) and early_files <= recorded

    _drive(rt, runner)  # the new run, to its join; the late part is still running
    with rt.db.session() as s:
        joins = s.scalars(select(Job.status).where(Job.asset_id == asset_id, Job.stage == "transcode_join")).all()
        assert s.get(Asset, asset_id).status == "processing"  # the late part is a live job of the asset
    assert joins == ["succeeded"]  # the new run's (the old one never had all its parts)
    new = _stored(rt, asset_id)
    assert new and not any(k.startswith(old_dir) for k in new)  # the join deleted the early part's files
    master_path = rt.settings.media_root / str(asset_id) / "hls" / "master.m3u8"
    master = master_path.read_text()

    assert runner.run(JobRun(late)) == "succeeded"
    files = _stored(rt, asset_id)
    with rt.db.session() as s:
        asset = s.get(Asset, asset_id)
        recorded = set(s.scalars(select(Artifact.key).where(Artifact.asset_id == asset_id,
                                                            Artifact.key.like(f"{asset_id}/hls/%"))).all())
        view = views.load_asset(s, asset_id, None)
        renditions = {r.kind for r in asset.renditions}
        status = asset.status
    assert files == new  # the late part's files are gone, every file of the new run is still there
    assert recorded == files  # and the artifacts say so
    assert status == "ready" and view.playable
    assert master_path.read_text() == master and renditions == {"video", "audio", "subtitles"}
    hls_root = master_path.parent
    for uri in playlists.parse_master(master):  # every playlist the master names, and every segment, is there
        assert not uri.startswith(Path(old_dir).name)
        for segment, _ in playlists.parse_media_playlist((hls_root / uri).read_text()):
            assert (hls_root / Path(uri).parent / segment).is_file(), (uri, segment)


def test_a_join_running_when_the_asset_is_reprocessed_does_not_replace_the_new_runs_master(runtime, chunk_settings,
                                                                                            tmp_path):
    """The old run's join is on a worker when a reprocess starts, and ends after the new run has published: its
    master (naming the old run's playlists) must not replace the new run's, nor its renditions be recorded."""
    rt = runtime
    asset_id = _ingest(rt, _subtitled(tmp_path, audio=True))
    runner = StageRunner(rt, "slow")
    [old_join] = _drive(rt, runner, hold=lambda j: j.stage == "transcode_join")
    with rt.db.session() as s, s.begin():
        new_run = reprocess_asset(s, asset_id, "transcode", actor="test")
    [new_join] = _drive(rt, runner, hold=lambda j: j.stage == "transcode_join")  # the new run plays (growing)
    assert new_join.payload["run"] == new_run != old_join.payload["run"]
    master_path = rt.settings.media_root / str(asset_id) / "hls" / "master.m3u8"
    growing, files = master_path.read_text(), _stored(rt, asset_id)
    assert all(uri.startswith(f"r{new_run}/") for uri in playlists.parse_master(growing))
    with rt.db.session() as s:
        renditions = sorted((r.name, r.playlist_key) for r in s.get(Asset, asset_id).renditions)

    assert runner.run(JobRun(old_join)) == "succeeded"  # its work is moot, not failed
    assert master_path.read_text() == growing and _stored(rt, asset_id) == files  # nothing of it stored
    with rt.db.session() as s:
        assert sorted((r.name, r.playlist_key) for r in s.get(Asset, asset_id).renditions) == renditions

    assert runner.run(JobRun(new_join)) == "succeeded"
    _complete_and_only(rt, asset_id, new_run)  # the new run's VOD master; the old run's files all gone


def _complete_and_only(rt, asset_id: uuid.UUID, run: int) -> str:
    """The master names only run `run`'s playlists, each complete (VOD), every segment stored; no other run's file
    is left, and every stored file is recorded. Returns the master."""
    hls_root = rt.settings.media_root / str(asset_id) / "hls"
    master = (hls_root / "master.m3u8").read_text()
    uris = playlists.parse_master(master)
    assert uris and all(u.startswith(f"r{run}/") for u in uris), list(uris)
    for uri in uris:
        text = (hls_root / uri).read_text()
        assert text.rstrip().endswith("#EXT-X-ENDLIST"), uri
        for segment, _ in playlists.parse_media_playlist(text):
            assert (hls_root / Path(uri).parent / segment).is_file(), (uri, segment)
    files = _stored(rt, asset_id)
    assert all(k.count("/") == 2 or k.startswith(f"{asset_id}/hls/r{run}/") for k in files), files
    with rt.db.session() as s:
        recorded = set(s.scalars(select(Artifact.key).where(Artifact.asset_id == asset_id,
                                                            Artifact.key.like(f"{asset_id}/hls/%"))).all())
    assert recorded == files
    return master


def test_a_reprocess_queues_every_part_while_the_old_runs_are_still_live(runtime, chunk_settings, tmp_path):
    """Reprocessed while the old run's audio job and part 1 are running on a slow worker and its part 2 is still
    queued: the new run queues all its parts anyway (the queue's uniqueness is per run), the old queued part is
    cancelled (it would publish nothing), the new run joins, and the asset ends ready on the new run alone."""
    rt = runtime
    asset_id = _ingest(rt, _subtitled(tmp_path, audio=True))  # 12 s: parts 0-2 and the audio job
    runner = StageRunner(rt, "slow")
    held = _drive(rt, runner, hold=lambda j: j.stage == "transcode_audio" or (
        j.stage == "transcode_chunk" and j.payload["part"] in (1, 2)))
    waiting = next(j for j in held if j.payload.get("part") == 2)
    with rt.db.session() as s, s.begin():
        assert queue.release(s, waiting, runner.worker_id)  # part 2 back in the queue, not started
    running = [j for j in held if j is not waiting]
    assert sorted(j.stage for j in running) == ["transcode_audio", "transcode_chunk"]
    old_run = waiting.payload["run"]
    with rt.db.session() as s, s.begin():  # ahead of the queued part (else it runs first, into the void)
        new_run = reprocess_asset(s, asset_id, "transcode", actor="test", priority=10)
    assert new_run is not None and new_run > old_run

    _drive(rt, runner)  # the new run, to its join; the old audio job and part 1 are still running
    with rt.db.session() as s:
        jobs = s.scalars(select(Job).where(Job.asset_id == asset_id, Job.stage.like("transcode\\_%"))).all()
        assert s.get(Asset, asset_id).status == "processing"  # the old run's running parts are live jobs of it
    mine = {(j.stage, j.part): j.status for j in jobs if j.payload["run"] == new_run}
    assert mine == {("transcode_chunk", 0): "succeeded", ("transcode_chunk", 1): "succeeded",
                    ("transcode_chunk", 2): "succeeded", ("transcode_audio", 0): "succeeded",
                    ("transcode_join", 0): "succeeded"}
    theirs = {(j.stage, j.part): (j.status, j.last_error_code) for j in jobs if j.payload["run"] == old_run}
    assert theirs == {("transcode_chunk", 0): ("succeeded", None), ("transcode_chunk", 1): ("running", None),
                      ("transcode_chunk", 2): ("cancelled", "superseded"), ("transcode_audio", 0): ("running", None)}
    master = _complete_and_only(rt, asset_id, new_run)
    new = _stored(rt, asset_id)

    for job in running:  # the old run's parts end after the new join: they take their files with them
        assert runner.run(JobRun(job)) == "succeeded", job.stage
    with rt.db.session() as s:
        asset = s.get(Asset, asset_id)
        status, renditions = asset.status, {r.kind for r in asset.renditions}
        playable = views.load_asset(s, asset_id, None).playable
    assert status == "ready" and playable and renditions == {"video", "audio", "subtitles"}
    assert _complete_and_only(rt, asset_id, new_run) == master and _stored(rt, asset_id) == new
