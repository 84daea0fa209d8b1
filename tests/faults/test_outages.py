"""Outages of what vidpipe stands on: the PostgreSQL server stopped and started mid-run, Redis killed, the media
disk full. Each: nothing lost, nothing duplicated, the right end states, no attempt spent, and no API 500."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

import httpx

from tests.acceptance.conftest import all_terminal, events_of, ingest_file, jobs_of, wait_for
from tests.faults.conftest import (
    assert_intact,
    database_ok,
    fill,
    spawn_worker,
    start_api,
    tiny_clips,
    worker_env,
)


def _answers(api, path: str) -> int:
    try:
        return api.get(path).status_code
    except httpx.HTTPError:
        return 0


def test_database_stopped_and_started_mid_run(fault_settings, fault_runtime, pg_cluster, procs, tmp_path):
    rt = fault_runtime
    clips = tiny_clips(tmp_path / "clips", 3, width=640, height=360, seconds=4)
    ids = [ingest_file(rt, clip, profile="standard") for clip in clips[:2]]
    # Lists are cached for 5 s by default: make every list during the outage reach the database.
    api = start_api(procs, fault_settings, cache_list_ttl_seconds=0.01)
    worker = spawn_worker(procs, worker_env(fault_settings), "worker", 2)
    wait_for(lambda: any(j.stage == "transcode" and j.status == "running" for j in jobs_of(rt)), timeout=60,
             interval=0.05, what="a transcode to run", procs=[worker])

    pg_cluster.stop()
    stopped = time.monotonic()
    try:
        seen = {path: api.get(path) for path in ("/v1/assets", "/v1/jobs", f"/v1/assets/{uuid.uuid4()}")}
        ready = httpx.get(api.base_url + "/readyz", timeout=10)
        ingest = procs.run(["ingest", str(clips[2])], worker_env(fault_settings), timeout=60)
        while time.monotonic() - stopped < 5:  # a few seconds of outage while ffmpeg keeps working
            assert _answers(api, "/v1/assets") in (503, 0)
            time.sleep(0.5)
    finally:
        pg_cluster.start()
    started, started_at = time.monotonic(), datetime.now(UTC)
    for path, response in seen.items():
        assert response.status_code == 503, (path, response.status_code, response.text)
        assert response.json()["error"]["code"] == "database_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    assert ready.status_code == 503 and "database unreachable" in ready.text
    assert ingest.returncode != 0 and "Traceback" not in ingest.stderr
    assert [ln for ln in ingest.stderr.splitlines() if "database" in ln] == [
        "error: the database is unavailable; try again shortly"]

    wait_for(lambda: _answers(api, "/v1/assets") == 200, timeout=30, interval=0.1, what="the API to recover")
    api_back = time.monotonic() - started
    wait_for(lambda: all_terminal(rt, ids), timeout=90, interval=0.2, what="the assets to finish", procs=[worker])
    done = time.monotonic() - started
    recorded = min(e.at for e in events_of(rt, event="job.succeeded") if e.at >= started_at)
    print(f"\ndatabase outage {started - stopped:.1f} s: after the restart the API answered in {api_back:.2f} s, "
          f"the first job outcome was recorded in {(recorded - started_at).total_seconds():.2f} s, "
          f"all assets were ready in {done:.1f} s")
    assert database_ok(fault_settings.database_url.get_secret_value())
    assert_intact(rt, ids)
    for aid in ids:  # the outage spent no attempt: every job ran once
        assert [(j.stage, j.attempts) for j in jobs_of(rt, aid) if j.attempts != 1] == []
        assert not events_of(rt, asset_id=aid, event="job.failed")


def test_redis_killed_the_api_keeps_answering(fault_settings, fault_runtime, redis_server, procs, tmp_path):
    rt = fault_runtime
    clips = tiny_clips(tmp_path / "clips", 2)
    first = ingest_file(rt, clips[0])
    api = start_api(procs, fault_settings, redis_url=redis_server.url)
    worker = spawn_worker(procs, worker_env(fault_settings, redis_url=redis_server.url), "worker", 2)
    wait_for(lambda: all_terminal(rt, [first]), timeout=60, what="the first asset", procs=[worker])
    assert [api.get(f"/v1/assets/{first}").status_code for _ in range(3)] == [200, 200, 200]

    redis_server.kill()
    codes = [api.get(path).status_code for path in (f"/v1/assets/{first}", "/v1/assets", "/v1/jobs") * 3]
    with clips[1].open("rb") as fh:
        upload = api.post("/v1/assets", files={"file": ("second.mp4", fh, "video/mp4")},
                          data={"profile": "preview"})
    assert set(codes) == {200}, codes
    assert upload.status_code == 201, upload.text
    second = uuid.UUID(upload.json()["id"])
    wait_for(lambda: all_terminal(rt, [second]), timeout=60, what="the asset uploaded without Redis",
             procs=[worker])
    assert api.get(f"/v1/assets/{second}").json()["status"] == "ready"
    assert_intact(rt, [first, second])


def test_full_media_disk(fault_settings, fault_runtime, small_disk, procs, tmp_path):
    settings = fault_settings.model_copy(update={"media_dir": small_disk})
    rt = fault_runtime
    rt.close()
    from vidpipe.runtime import Runtime

    rt = Runtime.from_settings(settings, pool_size=4)
    try:
        _full_disk_scenario(settings, rt, small_disk, procs, tmp_path)
    finally:
        rt.close()


def _full_disk_scenario(settings, rt, disk, procs, tmp_path) -> None:
    folder = tmp_path / "incoming"
    tiny_clips(folder, 2)
    big = folder / "big.mp4"
    big.write_bytes(os.urandom(6 * 2**20))  # larger than what is left
    filler = fill(disk, leave_bytes=3 * 2**20)
    env = worker_env(settings, ready_min_free_bytes=4 * 2**20, job_max_attempts=2)

    # The CLI: one readable line for the file that did not fit, the rest of the folder goes in, exit code 1.
    ingest = procs.run(["ingest", str(folder), "--profile", "preview"], env, timeout=120)
    assert ingest.returncode == 1, ingest.stdout + ingest.stderr
    assert "Traceback" not in ingest.stderr and str(tmp_path) not in ingest.stderr
    lines = [ln for ln in ingest.stderr.splitlines() if ln.startswith(("failed", "rejected", "error"))]
    assert len(lines) == 1, ingest.stderr  # (the rest of stderr is the INFO log)
    (line,) = lines
    assert line.startswith("failed big.mp4:") and "the media store is full" in line and "storage_full" in line
    ids = [uuid.UUID(ln.split()[0]) for ln in ingest.stdout.splitlines() if ln.strip()]
    assert len(ids) == 2

    # The API: an upload that does not fit is a 503 with Retry-After; /readyz says why it is not ready.
    api = start_api(procs, settings, ready_min_free_bytes=4 * 2**20)
    with big.open("rb") as fh:
        upload = api.post("/v1/assets", files={"file": ("big.mp4", fh, "video/mp4")})
    assert upload.status_code == 503, upload.text
    assert upload.json()["error"]["code"] == "storage_full" and int(upload.headers["Retry-After"]) > 0
    ready = httpx.get(api.base_url + "/readyz", timeout=10)
    assert ready.status_code == 503 and "media store low on space" in ready.text and str(disk) not in ready.text

    # The worker: outputs do not fit either. The jobs wait (backoff, no attempt spent: more outages than
    # attempts) and finish once there is room again.
    fill_rest = fill(disk, leave_bytes=0, name="filler-rest")
    worker = spawn_worker(procs, env, "worker", 2)

    def deferred_enough() -> bool:
        return any(j.deferrals > 2 for j in jobs_of(rt))

    wait_for(deferred_enough, timeout=60, interval=0.2, what="jobs to be deferred by the full disk", procs=[worker])
    for job in jobs_of(rt):
        assert job.status in ("queued", "running", "succeeded"), (job.stage, job.status, job.last_error)
        assert str(tmp_path) not in (job.last_error or "") and str(disk) not in (job.last_error or "")
    filler.unlink()
    fill_rest.unlink()
    freed = time.monotonic()
    wait_for(lambda: all_terminal(rt, ids), timeout=90, interval=0.2, what="the assets to finish", procs=[worker])
    print(f"\nfull disk: jobs finished {time.monotonic() - freed:.1f} s after space was freed")
    assert_intact(rt, ids)
    assert max(j.deferrals for j in jobs_of(rt)) > 2  # more outages than its 2 attempts, yet not dead
    assert all(j.attempts == 1 for j in jobs_of(rt))
    assert httpx.get(api.base_url + "/readyz", timeout=10).status_code == 200
