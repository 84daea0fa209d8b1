"""The compatibility matrix: every shape of file in the corpus goes through the whole pipeline (ingest, worker,
probe, thumbnails, transcode, analyze) on each database and must end `ready` with a ladder that decodes to the
source's length. docs/formats.md is generated from the same run (VIDPIPE_UPDATE_DOCS=1 rewrites it)."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, select, text

from tests.conftest import TABLES
from tests.formats import corpus
from tests.media_cache import default_cache_dir
from vidpipe.db.models import Asset, Job, MediaInfo, Rendition
from vidpipe.ffmpeg import hls, playlists
from vidpipe.ingest.service import IngestRequest, ingest_path
from vidpipe.jobs.worker import Worker
from vidpipe.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats.md"
TIMEOUT_S = 1200


@dataclass
class Outcome:
    sample: corpus.Sample
    asset: Asset
    info: MediaInfo | None
    renditions: list[Rendition]
    artifact_kinds: set[str]
    jobs: dict[str, str]
    seconds: float


@pytest.fixture(scope="module")
def matrix(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    from vidpipe.runtime import Runtime

    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    files = {s.name: corpus.build(s, default_cache_dir()) for s in corpus.SAMPLES}
    root = tmp_path_factory.mktemp("matrix")
    settings = Settings(data_dir=root / "data", database_url=database_url, media_dir=root / "media",
                        scratch_dir=root / "scratch", job_lease_seconds=30, job_heartbeat_seconds=1,
                        job_backoff_base_seconds=0.05, job_backoff_max_seconds=0.2,
                        import_roots=[files["h264_default"].parent])
    rt = Runtime.from_settings(settings, pool_size=5)
    started = time.monotonic()
    ids = {}
    for sample in corpus.SAMPLES:
        request = IngestRequest(source_kind="path", profile="standard", title=sample.name)
        ids[sample.name] = ingest_path(rt, files[sample.name], request,
                                       roots=[files[sample.name].parent]).asset.id
    worker = Worker(rt, concurrency=2)
    worker.start()
    try:
        _wait_terminal(rt, list(ids.values()))
    finally:
        worker.request_stop()
        worker.join(timeout=60)
    total = time.monotonic() - started
    outcomes = {}
    with rt.db.session() as s:
        for name, asset_id in ids.items():
            asset = s.get(Asset, asset_id)
            jobs = {j.stage: j.status for j in s.scalars(select(Job).where(Job.asset_id == asset_id).order_by(Job.id))}
            span = [j for j in s.scalars(select(Job).where(Job.asset_id == asset_id)) if j.finished_at]
            seconds = (max(j.finished_at for j in span) - min(j.started_at for j in span)).total_seconds() \
                if span else 0.0
            outcomes[name] = Outcome(corpus.SAMPLES_BY_NAME[name], asset, asset.media_info, list(asset.renditions),
                                     {a.kind for a in asset.artifacts}, jobs, seconds)
            s.expunge_all()
    outcomes["__total__"] = total  # type: ignore[assignment]
    outcomes["__media__"] = settings.media_dir  # type: ignore[assignment]
    yield outcomes
    rt.close()


def _wait_terminal(rt, ids: list[uuid.UUID]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        with rt.db.session() as s:
            statuses = list(s.scalars(select(Asset.status).where(Asset.id.in_(ids))))
        if all(st in ("ready", "failed") for st in statuses):
            return
        time.sleep(0.5)
    raise AssertionError(f"the matrix did not finish in {TIMEOUT_S} s")


def _decoded_span(playlist: Path, kind: str) -> float:
    """Seconds from the first to the last decoded frame of a rendition (our own output: plain PyAV)."""
    with av.open(str(playlist)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        first = last = None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            first = frame.time if first is None else first
            last = frame.time + float(frame.duration * frame.time_base if frame.duration else 0)
        assert first is not None, f"{playlist} decodes to nothing"
        return last - first


@pytest.mark.slow
@pytest.mark.parametrize("name", [s.name for s in corpus.SAMPLES])
def test_every_shape_plays(matrix: dict[str, Outcome], name: str) -> None:
    out = matrix[name]
    sample = out.sample
    assert out.asset.status == "ready", f"{sample.description}: {out.asset.error_message} ({out.jobs})"
    assert set(out.jobs.values()) == {"succeeded"}, out.jobs
    info = out.info
    duration = float(info.duration)
    media: Path = matrix["__media__"]  # type: ignore[assignment]
    assert "hls_master" in out.artifact_kinds
    master = playlists.parse_master((media / str(out.asset.id) / "hls" / "master.m3u8").read_text())
    for r in out.renditions:
        playlist = media / r.playlist_key
        segments = playlists.parse_media_playlist(playlist.read_text())
        assert sum(d for _, d in segments) == pytest.approx(duration, abs=1.0), r.name
        assert r.playlist_key.split("/hls/", 1)[1] in master, f"{r.name} is not in the master playlist"
        if r.kind in ("video", "audio"):
            assert _decoded_span(playlist, r.kind) == pytest.approx(duration, abs=1.0), r.name
    kinds = [r.kind for r in out.renditions]
    if sample.audio_only:
        assert kinds == ["audio"] and not info.has_video
        assert "waveform" in out.artifact_kinds
    else:
        assert "video" in kinds
        assert {"poster", "sprite", "sprite_vtt"} <= out.artifact_kinds
    _check_expectations(out, media)


def _check_expectations(out: Outcome, media: Path) -> None:
    expect, probe = out.sample.expect, out.info.probe
    video = [r for r in out.renditions if r.kind == "video"]
    if "rotation" in expect:
        assert probe["rotation"] == expect["rotation"]
        if expect["rotation"] in (90, 270):
            assert video[0].height > video[0].width  # a portrait picture stays portrait
    if "size" in expect:
        assert (probe["width"], probe["height"]) == expect["size"]
    if "is_vfr" in expect:
        assert probe["is_vfr"] is expect["is_vfr"]
    if "channels" in expect:  # the source layout is kept in the metadata; the ladder gets stereo
        audio = next(s for s in probe["streams"] if s["type"] == "audio")
        assert audio["channels"] == expect["channels"]
    if "audio_tracks" in expect:
        tracks = [r for r in out.renditions if r.kind == "audio"]
        assert len(tracks) == expect["audio_tracks"] and all(t.language for t in tracks)
    if "subtitles" in expect:
        subs = [r for r in out.renditions if r.kind == "subtitles"]
        assert len(subs) == expect["subtitles"]
        vtt = (media / subs[0].playlist_key).parent / hls.SUBTITLE_FILE
        assert "Hello there." in vtt.read_text() and "X-TIMESTAMP-MAP=MPEGTS:" in vtt.read_text()
    if expect.get("interlaced"):
        assert probe["interlaced"] is True
        assert not _first_frame(media / video[0].playlist_key).interlaced_frame
    if "hdr" in expect:
        assert probe["hdr"] in ("HDR10", "HLG")
        frame = _first_frame(media / video[0].playlist_key)
        assert (frame.color_primaries, frame.color_trc) == (1, 1), "an H.264 rung of HDR must be SDR BT.709"
        _check_not_washed_out(frame, out.asset.original_key, media)
    if expect.get("hdr") == "smpte2084" and out.sample.name == "hdr10_hevc":
        stream = next(s for s in probe["streams"] if s["type"] == "video")
        assert stream["max_cll"] == 1000 and stream["mastering_display"]["max_luminance"] == 1000


def _check_not_washed_out(rung_frame: av.VideoFrame, original_key: str, media: Path) -> None:
    # The corpus made the HDR picture from the SDR test picture (SDR white at 100 nits): a good tone map gives
    # back something close to it; showing the HDR code values as if they were SDR is the washed-out look.
    size = (rung_frame.width, rung_frame.height)
    reference = np.asarray(_sdr_reference(size), dtype=float)
    mapped = np.asarray(rung_frame.to_image().convert("RGB"), dtype=float)
    with av.open(str(media / original_key)) as container:
        naive = next(container.decode(container.streams.video[0])).to_image().convert("RGB").resize(size)
    error, naive_error = np.abs(mapped - reference).mean(), np.abs(np.asarray(naive, float) - reference).mean()
    saturation, naive_saturation = _saturation(mapped), _saturation(np.asarray(naive, float))
    assert error < 40 and saturation > 1.3 * naive_saturation, (error, naive_error, saturation, naive_saturation)


def _saturation(rgb: np.ndarray) -> float:
    return float((rgb.max(axis=2) - rgb.min(axis=2)).mean())


def _sdr_reference(size: tuple[int, int]) -> Image.Image:
    with av.open(f"testsrc2=s={size[0]}x{size[1]}:r=25:d=0.04", format="lavfi") as container:
        return next(container.decode(video=0)).to_image().convert("RGB")


def _first_frame(playlist: Path) -> av.VideoFrame:
    with av.open(str(playlist)) as container:
        return next(container.decode(container.streams.video[0]))


@pytest.mark.slow
def test_formats_doc_is_current(matrix: dict[str, Outcome]) -> None:
    """docs/formats.md lists every shape of the corpus with what came out; regenerate with VIDPIPE_UPDATE_DOCS=1."""
    rendered = corpus.render_formats_doc({k: v for k, v in matrix.items() if not k.startswith("__")})
    if os.environ.get("VIDPIPE_UPDATE_DOCS") == "1":
        DOC.write_text(rendered)
    print(f"\nmatrix: {len(corpus.SAMPLES)} inputs processed in {matrix['__total__']:.1f} s")
    assert DOC.read_text() == rendered, "docs/formats.md is stale: run the matrix with VIDPIPE_UPDATE_DOCS=1"
