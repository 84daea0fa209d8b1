"""The README's commands, run as an operator would: `vidpipe demo`, `vidpipe up` + an API key + an upload,
`vidpipe ingest DIR --wait` next to a worker, and a worker stopped with SIGTERM in the middle of a job."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.acceptance.conftest import (
    all_terminal,
    asset_statuses,
    base_env,
    child_env,
    events_of,
    free_port,
    ingest_file,
    jobs_of,
    live_ffmpeg,
    wait_for,
)
from vidpipe.ffmpeg import playlists, samples
from vidpipe.stages.registry import STAGES

pytestmark = pytest.mark.slow

DEMO_NAMES = {"feature-1080p-cuts.mp4": "ready", "trailer-720p.mp4": "ready", "podcast-clip.mp3": "ready",
              "phone-portrait.mp4": "ready", "corrupt-upload.mp4": "failed"}


def embedded_env(data_dir: Path) -> dict[str, str]:
    """The embedded default: no database URL, everything under a fresh data dir."""
    return base_env(data_dir=data_dir, job_lease_seconds=5, job_heartbeat_seconds=0.5)


def test_demo_processes_the_samples_and_prints_the_summary(tmp_path: Path, procs) -> None:
    data_dir = tmp_path / "data"
    procs.pg_dirs.append(data_dir / "postgres")
    demo = procs.spawn(["demo", "--seconds", "4"], embedded_env(data_dir), name="demo")
    try:
        code = demo.wait(timeout=240)
    except Exception:
        pytest.fail(f"vidpipe demo did not finish in 240 s\n{demo.output()[-4000:]}")
    out = demo.output()
    assert code == 0, out[-4000:]
    results, ladders = out.split("4/4", 1)[1].split("ladders", 1)
    rows = {name: line for line in results.splitlines() for name in DEMO_NAMES if name in line}
    assert set(rows) == set(DEMO_NAMES), results
    for name, expected in DEMO_NAMES.items():
        other = "failed" if expected == "ready" else "ready"
        assert expected in rows[name] and other not in rows[name], rows[name]
    assert sum(" ready " in line for line in results.splitlines()) == 4
    assert "demo finished" in ladders
    # Each video's ladder, per-title, with what each rung shows: a one-rung ladder is a decision it can read.
    for name in ("feature-1080p-cuts.mp4", "trailer-720p.mp4", "phone-portrait.mp4"):
        (line,) = [ln for ln in ladders.splitlines() if ln.strip().startswith(name)]
        assert "per-title, target VMAF 93" in line and "VMAF" in line.split(":", 1)[1], line
    assert "Traceback" not in out
    # The bars own the terminal: log records (and migration notes) went to the run's log file, not the screen.
    assert not re.search(r"^\d{4}-\d\d-\d\d \S+ (DEBUG|INFO|WARNING)\s", out, re.MULTILINE), out[-4000:]
    log_file = data_dir / "logs" / "demo.log"
    assert log_file.is_file() and log_file.stat().st_size > 0
    # The last lines say exactly how to open the console.
    tail = out.strip().splitlines()[-5:]
    assert "vidpipe keys create" in tail[1] and "vidpipe up" in tail[2], tail
    assert "http://127.0.0.1:8000/" in tail[3] and str(log_file) in tail[4], tail


def test_up_serves_uploads_and_media_and_stops_on_sigterm(tmp_path: Path, procs) -> None:
    data_dir = tmp_path / "data"
    procs.pg_dirs.append(data_dir / "postgres")
    env = embedded_env(data_dir) | {"VIDPIPE_LIMIT_MAX_UPLOAD_BYTES": str(1024 * 1024)}
    port = free_port()
    up = procs.spawn(["up", "--port", str(port)], env, name="up")
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as client:

        def healthy() -> bool:
            try:
                return client.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout=90, interval=0.3, what="`vidpipe up` to answer /healthz", procs=[up])
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text

        keys = procs.run(["keys", "create", "ci"], env, timeout=60)
        assert keys.returncode == 0, keys.stderr
        secret = keys.stdout.strip()
        assert secret and "\n" not in secret
        auth = {"Authorization": f"Bearer {secret}"}

        clip = samples.make_video(tmp_path / "tiny.mp4", width=320, height=180, seconds=1)
        assert client.post("/v1/assets", files={"file": ("tiny.mp4", clip.read_bytes(), "video/mp4")},
                           data={"profile": "preview"}).status_code == 401
        created = client.post("/v1/assets", headers=auth, data={"profile": "preview"},
                              files={"file": ("tiny.mp4", clip.read_bytes(), "video/mp4")})
        assert created.status_code == 201, created.text
        asset_id = created.json()["id"]
        assert created.json()["profile"] == "preview"

        def finished(some_id: str) -> dict | None:
            body = client.get(f"/v1/assets/{some_id}", headers=auth).json()
            return body if body["status"] in ("ready", "failed") else None

        body = wait_for(lambda: finished(asset_id), timeout=120, interval=0.5, what="the upload to be processed",
                        procs=[up])
        assert body["status"] == "ready", body
        assert {(s["stage"], s["status"], s["progress_percent"]) for s in body["stages"]} == {
            (stage, "succeeded", 100) for stage in STAGES}

        assert client.get(f"/v1/assets/{asset_id}").status_code == 401
        assert client.get(f"/v1/assets/{asset_id}", headers={"Authorization": "Bearer nope"}).status_code == 401
        master_url = body["hls_master_url"]
        assert master_url.startswith("/v1/media/") or master_url.startswith(base + "/v1/media/")
        assert client.get(master_url).status_code == 401
        master = client.get(master_url, headers=auth)
        assert master.status_code == 200 and master.text.startswith("#EXTM3U"), master.text
        variants = playlists.parse_master(master.text)
        assert variants
        variant_uri = next(iter(variants)).split("?", 1)[0]
        variant_url = master_url.rsplit("/", 1)[0] + "/" + variant_uri
        playlist = client.get(variant_url, headers=auth)
        assert playlist.status_code == 200, playlist.text
        segments = playlists.parse_media_playlist(playlist.text)
        assert segments
        segment_url = variant_url.rsplit("/", 1)[0] + "/" + segments[0][0].split("?", 1)[0]
        part = client.get(segment_url, headers=auth | {"Range": "bytes=0-99"})
        assert part.status_code == 206, part.text
        assert len(part.content) == 100 and part.headers["content-range"].startswith("bytes 0-99/")
        # A player needs no key: the signed playback URL, and what its playlists name relatively, play as they are.
        signed = body["playback"]["playback_url"]
        assert "/v1/play/" in signed and "vp_" not in signed
        signed_master = client.get(signed)
        assert signed_master.status_code == 200 and signed_master.text == master.text
        signed_variant = client.get(urljoin(str(signed_master.url), next(iter(variants))))
        assert signed_variant.status_code == 200 and signed_variant.text == playlist.text
        assert client.get(urljoin(str(signed_variant.url), segments[0][0])).status_code == 200

        # Over the upload limit: refused at upload time with a 4xx and a reason.
        big = client.post("/v1/assets", headers=auth, files={"file": ("big.mp4", b"\0" * (2 * 1024 * 1024))})
        assert big.status_code == 413, big.text
        assert "limit" in big.text
        # A hostile file name: accepted, stored sanitised, fails on its (random) content with a reason.
        evil = client.post("/v1/assets", headers=auth, data={"profile": "preview"},
                           files={"file": ("../../etc/\x1b[31mcron\x07.d\r\n.mp4", b"\x13\x37" * 4096)})
        assert evil.status_code == 201, evil.text
        evil_id = evil.json()["id"]
        name = evil.json()["original_name"]
        assert "/" not in name and ".." not in name and not any(ord(c) < 32 for c in name), name
        evil_body = wait_for(lambda: finished(evil_id), timeout=60, what="the hostile upload to fail", procs=[up])
        assert evil_body["status"] == "failed" and evil_body["error"]["message"], evil_body
        assert client.get(f"/v1/assets/{asset_id}", headers=auth).json()["status"] == "ready"

    started = time.monotonic()
    up.signal(signal.SIGTERM)
    try:
        code = up.wait(timeout=30)
    except Exception:
        pytest.fail(f"`vidpipe up` still running 30 s after SIGTERM\n{up.output()[-4000:]}")
    # 0, not -SIGTERM: the process shut down its worker and runtime instead of dying of the signal ...
    assert code == 0, up.output()[-4000:]
    assert time.monotonic() - started < 30
    # ... so the embedded PostgreSQL it started went down with it.
    wait_for(lambda: not (data_dir / "postgres" / "postmaster.pid").exists(), timeout=15,
             what="the embedded PostgreSQL to stop")
    assert "Traceback" not in up.output(), up.output()


def test_ingest_dir_wait_with_a_worker(settings, runtime, procs, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    samples.make_video(folder / "first-clip.mp4", width=320, height=180, seconds=1)
    samples.make_audio(folder / "second-clip.mp3", seconds=1)
    (folder / "readme.txt").write_text("not media: a directory import skips it")
    env = child_env(settings)
    worker = procs.spawn(["worker", "-c", "2"], env, name="worker")
    res = procs.run(["ingest", str(folder), "--wait", "--profile", "preview"], env, timeout=150)
    assert res.returncode == 0, res.stdout + res.stderr
    table = res.stdout.split("vidpipe assets", 1)[1]
    for name in ("first-clip.mp4", "second-clip.mp3"):
        (line,) = [ln for ln in table.splitlines() if name in ln]
        assert "ready" in line, line
    assert "readme.txt" not in res.stdout
    assert worker.popen.poll() is None


def test_reprocess_failed_recovers_assets_an_older_version_failed(settings, runtime, procs, tmp_path: Path) -> None:
    # What an upgrade is for: an asset failed by a bug (here: as an older probe failed default-GOP files) is
    # queued again from the probe by `vidpipe reprocess --failed` and ends ready; a ready asset is left alone.
    from sqlalchemy import text

    clip = samples.make_video(tmp_path / "default-gop.mp4", width=320, height=180, seconds=2, gop_seconds=10)
    failed = ingest_file(runtime, clip)
    with runtime.db.session() as s, s.begin():
        s.execute(text("UPDATE jobs SET status = 'failed', last_error = 'no decodable picture in video stream 0' "
                       "WHERE asset_id = :a"), {"a": failed})
        s.execute(text("UPDATE assets SET status = 'failed', error_message = 'no decodable picture' WHERE id = :a"),
                  {"a": failed})
    env = child_env(settings)
    res = procs.run(["reprocess", "--failed"], env, timeout=60)
    assert res.returncode == 0 and "queued probe for 1 asset(s)" in res.stdout, res.stdout + res.stderr
    procs.spawn(["worker", "-c", "2"], env, name="worker")
    wait_for(lambda: all_terminal(runtime, [failed]), timeout=120, what="the failed asset to be processed again")
    assert asset_statuses(runtime, [failed]) == {failed: "ready"}
    assert procs.run(["reprocess", "--failed"], env, timeout=60).stdout.strip().endswith("queued probe for 0 asset(s)")


def test_sigterm_releases_the_running_job_and_another_worker_finishes_it(settings, runtime, procs,
                                                                         tmp_path: Path) -> None:
    # Long enough that the transcode is still running when SIGTERM lands, also on a fast, idle machine.
    clip = samples.make_video(tmp_path / "long-enough.mp4", width=1280, height=720, seconds=20)
    asset_id = ingest_file(runtime, clip, profile="standard")
    env = child_env(settings, job_lease_seconds=30)  # a release must not depend on the lease running out
    first = procs.spawn(["worker", "-c", "1"], env, name="worker-1")

    def transcode_running():
        job = next((j for j in jobs_of(runtime, asset_id) if j.stage == "transcode"), None)
        return job if job is not None and job.status == "running" else None

    job = wait_for(transcode_running, timeout=60, interval=0.05, what="the transcode to run", procs=[first])
    marker = str(settings.scratch_root / f"job-{job.id}-a1")
    wait_for(lambda: live_ffmpeg(marker), timeout=10, interval=0.02, what="ffmpeg to start", procs=[first])

    started = time.monotonic()
    first.signal(signal.SIGTERM)
    try:
        code = first.wait(timeout=10)
    except Exception:
        pytest.fail(f"worker still running 10 s after SIGTERM\n{first.output()[-4000:]}")
    assert code == 0, first.output()[-4000:]
    assert time.monotonic() - started < 10
    assert not live_ffmpeg(marker)

    (released,) = [j for j in jobs_of(runtime, asset_id) if j.stage == "transcode"]
    assert released.id == job.id
    assert (released.status, released.attempts, released.worker_id) == ("queued", 0, None)
    (event,) = events_of(runtime, asset_id=asset_id, event="job.released")
    assert event.job_id == job.id and event.detail["stage"] == "transcode"
    assert not events_of(runtime, asset_id=asset_id, event="job.failed")
    assert not list(settings.scratch_root.glob("job-*"))  # the released attempt cleaned up after itself

    second = procs.spawn(["worker", "-c", "1"], env, name="worker-2")
    wait_for(lambda: all_terminal(runtime, [asset_id]), timeout=120, interval=0.3, what="the asset to finish",
             procs=[second])
    assert asset_statuses(runtime, [asset_id])[asset_id] == "ready"
    (done,) = [j for j in jobs_of(runtime, asset_id) if j.stage == "transcode"]
    assert (done.status, done.attempts) == ("succeeded", 1)  # the released attempt did not count
    claims = [e for e in events_of(runtime, asset_id=asset_id, event="job.claimed") if e.job_id == job.id]
    assert [(c.detail["attempt"], c.detail["reclaimed"]) for c in claims] == [(1, False), (1, False)]
