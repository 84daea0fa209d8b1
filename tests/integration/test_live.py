"""Live status over Server-Sent Events through a real uvicorn: a change committed in the database reaches an
open stream within 1 s; one LISTEN connection per process whatever the number of streams; /v1/stats."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text, update

from vidpipe.api.routers import live
from vidpipe.db import apikeys
from vidpipe.db.models import Asset, Job
from vidpipe.ingest.service import IngestRequest, ingest_stream
from vidpipe.jobs import queue as jobs
from vidpipe.server import create_app


class Server:
    """The API under uvicorn on 127.0.0.1 in a thread (lifespan included: the hub lives there)."""

    def __init__(self, runtime: Any) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.app = create_app(runtime)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                timeout_graceful_shutdown=2, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Stream:
    """An SSE client on its own thread: events land in a queue as (event, data, arrival time)."""

    def __init__(self, url: str, key: str) -> None:
        self.events: queue.Queue[tuple[str, Any, float]] = queue.Queue()
        self.client = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(5, read=30))
        self.url = url
        self.opened = threading.Event()
        self.closing = threading.Event()  # the reader stops at the next line (keep-alives come every 0.3 s here)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.opened.wait(10)

    def _run(self) -> None:
        try:
            with self.client.stream("GET", self.url) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                self.opened.set()
                event = None
                for line in response.iter_lines():
                    if self.closing.is_set():
                        return
                    if line.startswith(":"):
                        self.events.put(("comment", line, time.monotonic()))
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event:
                        self.events.put((event, json.loads(line[6:]), time.monotonic()))
                        event = None
        except (httpx.HTTPError, RuntimeError):  # closed by the test
            pass

    def next(self, kind: str, predicate: Any = lambda d: True, timeout: float = 5.0) -> tuple[Any, float]:
        deadline = time.monotonic() + timeout
        while True:
            event, data, at = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event == kind and predicate(data):
                return data, at

    def close(self) -> None:
        self.closing.set()
        self.thread.join(5)
        self.client.close()


@pytest.fixture(autouse=True)
def quick_keepalive(monkeypatch) -> None:
    monkeypatch.setattr(live, "KEEPALIVE_SECONDS", 0.3)


@pytest.fixture
def key(runtime) -> str:
    with runtime.db.session() as s, s.begin():
        return apikeys.create_key(s, "watcher").secret


@pytest.fixture
def server(runtime) -> Iterator[Server]:
    with Server(runtime) as srv:
        yield srv


def _asset(runtime, payload: bytes) -> uuid.UUID:
    req = IngestRequest(source_kind="upload", original_name="live.mp4", profile="preview")
    return ingest_stream(runtime, req, [payload]).asset.id


def _listeners(runtime) -> int:
    with runtime.db.session() as s:
        return s.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND query = 'LISTEN vidpipe_assets'")).scalar_one()


def test_a_committed_status_change_reaches_the_stream_within_a_second(runtime, server, key):
    asset_id = _asset(runtime, b"live-1" * 100)
    stream = Stream(f"{server.url}/v1/events/stream?asset_id={asset_id}", key)
    try:
        first, _ = stream.next("asset")  # the current state comes first
        assert first["id"] == str(asset_id) and first["status"] == "queued"
        assert {s["stage"] for s in first["stages"]} >= {"probe"}
        for status in ("processing", "ready", "failed"):
            with runtime.db.session() as s, s.begin():
                s.execute(update(Asset).where(Asset.id == asset_id).values(status=status))
            committed = time.monotonic()
            data, at = stream.next("asset", lambda d, st=status: d["status"] == st, timeout=2)
            assert at - committed < 1.0, f"{status} took {at - committed:.3f}s"
        # Job progress (what a worker's heartbeat writes) is pushed too, as the asset's stages.
        with runtime.db.session() as s, s.begin():
            s.execute(update(Job).where(Job.asset_id == asset_id).values(status="running", progress=0.5))
        data, _ = stream.next("asset", lambda d: any(st["progress_percent"] == 50 for st in d["stages"]))
        with runtime.db.session() as s, s.begin():
            s.execute(text("DELETE FROM assets WHERE id = :id"), {"id": asset_id})
        gone, _ = stream.next("deleted")
        assert gone == {"id": str(asset_id)}
    finally:
        stream.close()


def test_one_listen_connection_for_all_streams_and_filters(runtime, server, key):
    a, b = _asset(runtime, b"live-a" * 50), _asset(runtime, b"live-b" * 50)
    before = _listeners(runtime)  # the cache's invalidation listener
    everything = Stream(f"{server.url}/v1/events/stream", key)
    only_a = Stream(f"{server.url}/v1/events/stream?asset_id={a}", key)
    a_and_b = Stream(f"{server.url}/v1/events/stream?asset_id={a}&asset_id={b}", key)
    try:
        only_a.next("asset")
        assert {a_and_b.next("asset")[0]["id"], a_and_b.next("asset")[0]["id"]} == {str(a), str(b)}
        assert _listeners(runtime) == before + 1
        with runtime.db.session() as s, s.begin():
            jobs.enqueue(s, b, "thumbnails", actor="test")
        assert everything.next("asset")[0]["id"] == str(b)
        assert a_and_b.next("asset")[0]["id"] == str(b)
        only_a.next("comment", lambda line: line == ": keep-alive", timeout=2)
        assert all(e[0] != "asset" for e in list(only_a.events.queue))  # b's change is not a's business
    finally:
        for st in (everything, only_a, a_and_b):
            st.close()
    deadline = time.monotonic() + 5
    while server.app.state.live_hub.subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.app.state.live_hub.subscribers  # closed streams unsubscribe


def test_streams_need_a_key_and_stats_show_the_queue(runtime, server, key):
    assert httpx.get(f"{server.url}/v1/events/stream").status_code == 401
    asset_id = _asset(runtime, b"stats" * 10)
    with runtime.db.session() as s, s.begin():
        s.execute(update(Job).where(Job.asset_id == asset_id, Job.stage == "probe")
                  .values(status="running", worker_id="w-1", progress=0.25))
        job = Job(asset_id=asset_id, stage="transcode", status="dead", attempts=5)
        s.add(job)
    r = httpx.get(f"{server.url}/v1/stats", headers={"X-API-Key": key})
    assert r.status_code == 200
    stats = r.json()
    probe = next(q for q in stats["stages"] if q["stage"] == "probe")
    assert probe == {"stage": "probe", "queued": 0, "running": 1}
    assert [(j["asset_id"], j["stage"], j["worker"], j["percent"]) for j in stats["running"]] == [
        (str(asset_id), "probe", "w-1", 25.0)]
    assert stats["dead"] == 1
