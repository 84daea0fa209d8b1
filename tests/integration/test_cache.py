"""The read cache, over the real Redis on 127.0.0.1:6379 and the in-process cache: invalidation after every kind
of write (including writes by a worker in another Runtime), stampedes, popularity, Redis going away, rate
limits, ETags. Database reads are observed with SQLAlchemy's before_cursor_execute, never mocked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event, func, select

from tests.conftest import IN_CI
from tests.integration.test_api import Api
from vidpipe.cache.http import media_cache_control
from vidpipe.cache.invalidation import Listener
from vidpipe.cache.reads import ReadThrough, make_entry
from vidpipe.cache.redis import RedisCache
from vidpipe.contract import Output, RenditionInfo, StageResult
from vidpipe.db import apikeys
from vidpipe.db.models import Asset, Job
from vidpipe.db.models.popularity import AssetView
from vidpipe.jobs import queue as jobs
from vidpipe.jobs.runner import StageRunner
from vidpipe.runtime import Runtime
from vidpipe.server import create_app
from vidpipe.settings import Settings

REDIS_URL = os.environ.get("VIDPIPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable (CI must provide it): {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    name = f"vptest:{uuid.uuid4().hex[:12]}:"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{name}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings updates selecting the cache backend."""
    if request.param == "memory":
        return {"redis_url": None}
    from pydantic import SecretStr

    return {"redis_url": SecretStr(request.getfixturevalue("redis_url")),
            "cache_key_prefix": request.getfixturevalue("prefix")}


class Process:
    """A Runtime as one process would build it (own pool, own cache objects), plus its API client."""

    def __init__(self, settings: Settings, key: str | None = None, *, listen: bool = False) -> None:
        self.rt = Runtime.from_settings(settings, pool_size=4)
        self.api = Api(create_app(self.rt), key) if key else None
        self.listener = None
        if listen:
            self.listener = Listener(self.rt.db.url, self.rt.cache.invalidate_assets, self.rt.cache.cache.retire_all)
            self.listener.start()
            assert self.listener.ready.wait(10)

    def close(self) -> None:
        if self.listener:
            self.listener.stop()
        if self.api:
            self.api.close()
        self.rt.close()


@pytest.fixture
def make_process(settings: Settings) -> Iterator[Callable[..., Process]]:
    made: list[Process] = []

    def make(updates: dict[str, Any], *, key: bool = True, listen: bool = False) -> Process:
        secret = None
        proc = Process(settings.updated(**updates), listen=listen)
        if key:
            with proc.rt.db.session() as s, s.begin():
                name = f"k{len(made)}-{uuid.uuid4().hex[:6]}"
                secret = apikeys.create_key(s, name).secret
            proc.close()
            proc = Process(settings.updated(**updates), secret, listen=listen)
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.close()


class SqlCounter:
    """Statements a runtime's engine executes (all, and asset view reads)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt, self.statements = rt, []

    def __enter__(self) -> SqlCounter:
        event.listen(self.rt.db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.rt.db.engine, "before_cursor_execute", self._count)

    def _count(self, conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        self.statements.append(statement)

    @property
    def view_reads(self) -> int:
        return sum("jsonb_agg" in s for s in self.statements)


def _seed(rt: Runtime, title: str = "Clip") -> uuid.UUID:
    aid = uuid.uuid4()
    with rt.db.session() as s, s.begin():
        s.add(Asset(id=aid, title=title, description="", tags=[], source_kind="upload", original_name="c.mp4",
                    sha256=uuid.uuid4().hex * 2, size_bytes=1000, content_type="video/mp4",
                    original_key=f"{aid}/original", status="queued"))
        s.flush()
        jobs.enqueue(s, aid, "probe", actor="test")
    return aid


def _claim(rt: Runtime, worker: str = "w1") -> jobs.ClaimedJob:
    with rt.db.session() as s, s.begin():
        job = jobs.claim(s, worker, 30)
    assert job is not None
    return job


def _claim_stage(rt: Runtime, stage: str) -> jobs.ClaimedJob:
    """Claim the queued job of `stage` (other stages' jobs are queued too)."""
    with rt.db.session() as s, s.begin():
        s.execute(Job.__table__.update().where(Job.stage == stage, Job.status == "queued").values(priority=1000))
    job = _claim(rt)
    assert job.stage == stage
    return job


def _stages(body: dict[str, Any]) -> dict[str, str]:
    return {st["stage"]: st["status"] for st in body["stages"]}


def _eventually(check: Callable[[], bool], within: float = 3.0) -> float:
    """Seconds until `check()` held (fails after `within`): for invalidations that travel by NOTIFY."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < within, "not invalidated in time"
        time.sleep(0.005)
    return time.monotonic() - start


def test_every_write_invalidates_across_processes(backend: dict[str, Any], make_process) -> None:
    api = make_process(backend, listen=True)
    worker = make_process(backend, key=False)
    shared = bool(backend["redis_url"])
    aid = _seed(api.rt)

    def body() -> dict[str, Any]:
        r = api.api.get(f"/v1/assets/{aid}")
        assert r.status_code == 200, r.text
        return r.json()

    def fresh(check: Callable[[dict[str, Any]], bool]) -> None:
        # With Redis the writer's own invalidation is done before its call returns: the very next read is
        # fresh. In-process caches of other processes learn of the write by NOTIFY (delivered at commit).
        if shared:
            assert check(body())
        else:
            _eventually(lambda: check(body()))

    assert body()["status"] == "queued"
    with SqlCounter(api.rt) as sql:
        assert body()["status"] == "queued"
    assert sql.statements == []  # key and body both come from the cache

    # A worker claims and finishes probe: status changes, media info, an artifact.
    runner = StageRunner(worker.rt, "w1")
    job = _claim(worker.rt)
    with worker.rt.db.session() as s, s.begin():
        from vidpipe.db import assets as asset_store

        asset_store.set_status(s, asset_store.get_asset(s, aid, lock=True), "processing", actor="worker:w1")
    fresh(lambda b: b["status"] == "processing")
    Path(worker.rt.settings.media_root).mkdir(parents=True, exist_ok=True)
    probe = {"format": "mp4", "duration": 2.0, "width": 320, "height": 240, "has_video": True, "has_audio": False}
    out = StageResult(outputs=[Output("thumbs/poster.jpg", Path("/dev/null"), "poster", "image/jpeg")],
                      metadata={"probe": probe})
    assert runner._succeed(job, out, {f"{aid}/thumbs/poster.jpg": 10}) == "succeeded"
    fresh(lambda b: _stages(b)["probe"] == "succeeded" and b["media"] and b["poster_url"])

    # Probe's success queued the next stages. Transcode succeeds with a rendition (it must show at once).
    job = _claim_stage(worker.rt, "transcode")
    result = StageResult(renditions=[RenditionInfo("720p", "video", "hls/720p/index.m3u8", 1280, 720, 2_800_000)])
    assert runner._succeed(job, result, {}) == "succeeded"
    fresh(lambda b: [r["name"] for r in b["renditions"]] == ["720p"] and _stages(b)["transcode"] == "succeeded")

    # A failure the worker records (retry scheduled), then its last attempt fails: the asset failed.
    job = _claim_stage(worker.rt, "thumbnails")
    assert runner._fail(job, RuntimeError("boom")) == "retrying"
    fresh(lambda b: next(s for s in b["stages"] if s["stage"] == "thumbnails")["last_error"] == "boom")
    with worker.rt.db.session() as s, s.begin():
        s.execute(Job.__table__.update().where(Job.id == job.id).values(
            run_after=func.now() - timedelta(seconds=1), attempts=Job.max_attempts - 1))
    job = _claim_stage(worker.rt, "thumbnails")
    assert runner._fail(job, RuntimeError("boom again")) in ("failed", "dead")
    fresh(lambda b: b["status"] == "failed")

    # The API's own writes: job retry, reprocess, metadata edit; a cancel (NOTIFY only, any backend).
    r = api.api.post(f"/v1/jobs/{job.id}/retry")
    assert r.status_code == 200, r.text
    assert body()["status"] == "processing" and _stages(body())["thumbnails"] == "queued"
    r = api.api.post(f"/v1/jobs/{job.id}/cancel")
    assert r.status_code == 200, r.text
    _eventually(lambda: _stages(body())["thumbnails"] == "cancelled")
    r = api.api.post(f"/v1/assets/{aid}/reprocess", json={"stage": "thumbnails"})
    assert r.status_code == 202, r.text
    assert _stages(body())["thumbnails"] == "queued"
    # Heartbeat progress from a worker (NOTIFY by the trigger; with Redis the API's listener bumps it).
    job = _claim_stage(worker.rt, "thumbnails")
    with worker.rt.db.session() as s, s.begin():
        jobs.heartbeat(s, job, "w1", 30, progress=0.5)
    _eventually(lambda: next(s for s in body()["stages"] if s["stage"] == job.stage)["progress_percent"] == 50)

    listing = api.api.get("/v1/assets").json()
    assert listing["items"][0]["title"] == "Clip"
    assert api.api.request("PATCH", f"/v1/assets/{aid}", json={"title": "Renamed"}).status_code == 200
    assert body()["title"] == "Renamed"
    assert api.api.get("/v1/assets").json()["items"][0]["title"] == "Renamed"  # lists too

    assert api.api.request("DELETE", f"/v1/assets/{aid}").status_code == 204
    assert api.api.get(f"/v1/assets/{aid}").status_code == 404
    assert api.api.get("/v1/assets").json()["items"] == []


def test_a_worker_finishing_a_job_is_seen_by_the_next_read(backend: dict[str, Any], make_process) -> None:
    """The acceptance case: a worker in another Runtime finishes; the API reads through its cache. With Redis
    the API runs no listener here: the worker's own invalidation after its commit is what makes it fresh."""
    api = make_process(backend, listen=not backend["redis_url"])
    worker = make_process(backend, key=False)
    aid = _seed(api.rt)
    assert _stages(api.api.get(f"/v1/assets/{aid}").json())["probe"] == "queued"
    job = _claim(worker.rt)
    StageRunner(worker.rt, "w1")._succeed(job, StageResult(metadata={"probe": {"duration": 1.0}}), {})
    first = api.api.get(f"/v1/assets/{aid}").json()
    if backend["redis_url"]:
        assert _stages(first)["probe"] == "succeeded"
    else:  # NOTIFY delivery: milliseconds on loopback
        waited = _eventually(lambda: _stages(api.api.get(f"/v1/assets/{aid}").json())["probe"] == "succeeded", 2.0)
        assert waited < 1.0


def test_hundred_concurrent_misses_read_the_database_once(backend: dict[str, Any], make_process) -> None:
    proc = make_process(backend)
    aid = _seed(proc.rt)
    proc.api.get("/v1/assets")  # the key is verified and cached
    client, headers = proc.api.client, {"Authorization": f"Bearer {proc.api.key}"}

    async def burst() -> list[int]:
        rs = await asyncio.gather(*[client.get(f"/v1/assets/{aid}", headers=headers) for _ in range(100)])
        return [r.status_code for r in rs]

    with SqlCounter(proc.rt) as sql:
        assert proc.api.loop.run_until_complete(burst()) == [200] * 100
    assert sql.view_reads == 1

    if backend["redis_url"]:  # across processes: separate ReadThroughs over one Redis, 20 threads
        from vidpipe.cache import cache_from_settings

        loads: list[int] = []

        def loader() -> Any:
            loads.append(1)
            time.sleep(0.1)
            return make_entry(b"{}")

        readers = [ReadThrough(cache_from_settings(proc.rt.settings), fill_wait=2.0) for _ in range(20)]
        threads = [threading.Thread(target=r.get, args=("stampede", "v:stampede", 5, loader)) for r in readers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(loads) == 1


def test_popularity_ordering_and_persistence(backend: dict[str, Any], make_process) -> None:
    proc = make_process(backend)
    ids = [_seed(proc.rt, title=f"t{n}") for n in range(3)]
    for aid, views in zip(ids, (2, 5, 1), strict=True):
        for _ in range(views):
            assert proc.api.get(f"/v1/assets/{aid}").status_code == 200
    proc.api.loop.run_until_complete(proc.rt.cache.views.aflush())  # as the API does, on its event loop
    for window in ("1h", "24h", "7d"):
        top = proc.api.get(f"/v1/popular?window={window}").json()["items"]
        assert [(i["asset"]["id"], i["views"]) for i in top] == [(str(ids[1]), 5), (str(ids[0]), 2), (str(ids[2]), 1)]
    assert proc.api.get("/v1/popular?window=2d").status_code == 422

    with proc.rt.db.session() as s:
        assert proc.rt.cache.views.persist(s) == 3
        assert proc.rt.cache.views.persist(s) == 0  # nothing counted twice
        assert dict(s.execute(select(AssetView.asset_id, AssetView.views)).all()) == dict(zip(ids, (2, 5, 1),
                                                                                          strict=True))
    # Another process (no local counts) sees the same ranking: from Redis, or from the database.
    other = make_process(backend)
    top = other.api.get("/v1/popular?window=1h&limit=2").json()["items"]
    assert [i["asset"]["id"] for i in top] == [str(ids[1]), str(ids[0])]

    # The hottest assets are kept warm: evict, warm, and the next read needs no database.
    from vidpipe.api.routers.assets import load_entry
    from vidpipe.cache.background import warm

    other.rt.cache.invalidate_assets(ids)
    assert warm(other.rt, lambda a: load_entry(other.rt, a)) == 3
    with SqlCounter(other.rt) as sql:
        assert other.api.get(f"/v1/assets/{ids[1]}").status_code == 200
    assert sql.view_reads == 0


def _same_rate_window(seconds_needed: float = 8.0) -> None:
    """Start where the fixed one-minute rate-limit window will not roll over for `seconds_needed`."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.05)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_closed_port_serves_from_the_database(make_process, caplog: pytest.LogCaptureFixture) -> None:
    from pydantic import SecretStr

    proc = make_process({"redis_url": SecretStr(f"redis://127.0.0.1:{_free_port()}/0"), "rate_limit_per_minute": 50})
    aid = _seed(proc.rt)
    caplog.set_level(logging.WARNING, logger="vidpipe.cache.breaker")
    _same_rate_window(15)
    start = time.monotonic()
    for n in range(30):
        r = proc.api.get(f"/v1/assets/{aid}")
        assert r.status_code == 200, r.text
        if n == 10:
            assert proc.api.request("PATCH", f"/v1/assets/{aid}", json={"title": "While down"}).status_code == 200
    assert r.json()["title"] == "While down"
    assert time.monotonic() - start < 15  # no request waited for Redis more than its timeout
    assert proc.api.get("/v1/assets").status_code == 200
    assert proc.api.get("/v1/popular").status_code == 200
    assert sum(rec.msg == "cache.unavailable" for rec in caplog.records) == 1  # once per interval, not per request
    statuses = [proc.api.get(f"/v1/assets/{aid}").status_code for _ in range(25)]
    assert 429 in statuses  # the limit still holds, counted in-process


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start (and restart) a redis-server of this test on a free port; stopped at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not on PATH")
        pytest.skip("redis-server is not on PATH")
    port = _free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                 "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
        procs.append(proc)
        client = redis.Redis(port=port, socket_timeout=0.2)
        _eventually(lambda: _pings(client), 5)
        client.close()
        return proc

    start.port = port  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_redis_going_away_mid_test_and_coming_back(make_process, own_redis) -> None:
    from pydantic import SecretStr

    server = own_redis()
    proc = make_process({"redis_url": SecretStr(f"redis://127.0.0.1:{own_redis.port}/0"),
                         "redis_retry_seconds": 0.3})
    aid = _seed(proc.rt)
    assert proc.api.get(f"/v1/assets/{aid}").status_code == 200
    with SqlCounter(proc.rt) as sql:
        assert proc.api.get(f"/v1/assets/{aid}").status_code == 200
    assert sql.view_reads == 0

    server.kill()
    server.wait()
    with SqlCounter(proc.rt) as sql:
        for _ in range(20):
            assert proc.api.get(f"/v1/assets/{aid}").status_code == 200
        assert proc.api.request("PATCH", f"/v1/assets/{aid}", json={"title": "Down"}).status_code == 200
        assert proc.api.get(f"/v1/assets/{aid}").json()["title"] == "Down"
    assert sql.view_reads >= 20  # served by the database
    cache = proc.rt.cache.cache
    assert isinstance(cache, RedisCache) and cache.breaker.failures >= 1

    own_redis()  # back (empty: no persistence), same port; no restart of the API
    time.sleep(0.35)
    proc.api.get(f"/v1/assets/{aid}")
    proc.api.get(f"/v1/assets/{aid}")
    with SqlCounter(proc.rt) as sql:
        assert proc.api.get(f"/v1/assets/{aid}").json()["title"] == "Down"
    assert sql.view_reads == 0  # cached again


def test_lost_invalidations_are_delivered_when_redis_is_back(make_process, own_redis) -> None:
    """A writer that could not reach Redis delivers its invalidations when it can again: no stale value is served."""
    from pydantic import SecretStr

    own_redis()
    updates = {"redis_url": SecretStr(f"redis://127.0.0.1:{own_redis.port}/0"), "redis_retry_seconds": 0.2}
    api = make_process(updates)
    worker = make_process(updates, key=False)
    aid = _seed(api.rt)
    assert api.api.get(f"/v1/assets/{aid}").json()["status"] == "queued"
    wcache = worker.rt.cache.cache
    assert isinstance(wcache, RedisCache)
    real = wcache.client
    wcache.client = redis.Redis(port=_free_port(), socket_timeout=0.05, socket_connect_timeout=0.05,
                                retry=Retry(NoBackoff(), 0))  # cut off
    with worker.rt.db.session() as s, s.begin():
        from vidpipe.db import assets as asset_store

        asset_store.set_status(s, asset_store.get_asset(s, aid, lock=True), "ready", actor="test")
    wcache.client = real
    time.sleep(0.25)
    wcache.get_many(["anything"])  # the worker's next cache call finds Redis again
    assert api.api.get(f"/v1/assets/{aid}").json()["status"] == "ready"


def test_rate_limit_429_with_retry_after(backend: dict[str, Any], make_process) -> None:
    proc = make_process({**backend, "rate_limit_per_minute": 5})
    aid = _seed(proc.rt)
    _same_rate_window()
    codes = [proc.api.get(f"/v1/assets/{aid}").status_code for _ in range(4)] + [proc.api.get("/v1/assets").status_code]
    assert codes == [200] * 5
    r = proc.api.get(f"/v1/assets/{aid}")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    assert r.json()["error"]["code"] == "rate_limited"
    assert proc.api.get("/v1/jobs").status_code == 429  # every route of the key
    assert make_process({**backend, "rate_limit_per_minute": 5}).api.get(f"/v1/assets/{aid}").status_code == 200


def test_etags_and_cache_control(backend: dict[str, Any], make_process) -> None:
    proc = make_process(backend)
    aid = _seed(proc.rt)
    r = proc.api.get(f"/v1/assets/{aid}")
    etag = r.headers["ETag"]
    assert r.headers["Cache-Control"] == "private, no-cache"
    again = proc.api.get(f"/v1/assets/{aid}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    proc.api.request("PATCH", f"/v1/assets/{aid}", json={"description": "new"})
    changed = proc.api.get(f"/v1/assets/{aid}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    listing = proc.api.get("/v1/assets")
    assert proc.api.get("/v1/assets", headers={"If-None-Match": listing.headers["ETag"]}).status_code == 304
    assert media_cache_control(f"{aid}/hls/720p/index.m3u8", original=False) == "private, no-cache"
    assert media_cache_control(f"{aid}/hls/720p/seg_00001.ts", original=False) == "private, max-age=86400"
    assert "immutable" in media_cache_control(f"{aid}/original", original=True)


def test_api_keys_are_verified_from_the_cache(make_process) -> None:
    proc = make_process({"redis_url": None, "cache_key_ttl_seconds": 30})
    aid = _seed(proc.rt)
    proc.api.get(f"/v1/assets/{aid}")
    with SqlCounter(proc.rt) as sql:
        assert proc.api.get(f"/v1/assets/{aid}").status_code == 200
        assert proc.api.get("/v1/assets").status_code == 200
    assert not any("api_keys" in s for s in sql.statements)
    with proc.rt.db.session() as s, s.begin():
        apikeys.revoke_key(s, proc.rt.cache.keys.lookup(proc.api.key) or "")
    assert proc.api.get(f"/v1/assets/{aid}").status_code == 200  # within the TTL (documented)
    proc.rt.cache.keys.forget_all()  # the TTL has passed
    assert proc.api.get(f"/v1/assets/{aid}").status_code == 401


def test_the_fast_path_answers_exactly_as_the_route(backend: dict[str, Any], make_process) -> None:
    """A repeat GET /v1/assets/{id} is answered in front of FastAPI (vidpipe.api.fastpath); a query string sends
    it through the route. Both render the cached entry the same way, conditional requests included."""
    proc = make_process(backend)
    aid = _seed(proc.rt)
    etag = proc.api.get(f"/v1/assets/{aid}").headers["ETag"]  # the route: verifies the key, fills the cache
    for header in (None, etag, f"W/{etag}", f'"other", {etag}', '"other", *', "*", '"other"'):
        headers = {"If-None-Match": header} if header else {}
        fast = proc.api.get(f"/v1/assets/{aid}", headers=headers)
        route = proc.api.get(f"/v1/assets/{aid}?via=route", headers=headers)
        assert (fast.status_code, fast.content) == (route.status_code, route.content), header
        for name in ("ETag", "Cache-Control", "Content-Type"):
            assert fast.headers.get(name) == route.headers.get(name), (header, name)


def test_a_fill_that_finished_between_our_miss_and_our_lock_is_used_not_repeated(redis_url: str) -> None:
    # Another process filled the key and let go of its fill lock after this reader's miss: the lock is free, but
    # the value is there. Taking the lock and loading again was a second database read (the 20-thread stampede
    # above failed on a loaded machine with 2 loads).
    prefix = f"vptest:{uuid.uuid4().hex[:12]}:"
    first, second = (ReadThrough(RedisCache(redis_url, prefix=prefix, timeout=1.0), fill_wait=2.0) for _ in range(2))
    stamp_before = b"0:0"  # the versions a reader saw when it missed (none bumped yet)

    def boom() -> Any:
        raise AssertionError("loaded again although the value was in the cache")

    filled = first.get("race", "v:race", 5, lambda: make_entry(b'{"a": 1}'))
    assert filled is not None
    got = second._fill_shared("race", "v:race", 5, stamp_before, boom)  # noqa: SLF001 - the step after a miss
    assert got is not None and got.body == filled.body
    assert second.fills == 0
