"""Live status for the console: `GET /v1/events/stream` (Server-Sent Events fed by the database's
notifications) and `GET /v1/stats` (the queue at a glance).

One LISTEN connection per API process (`Hub`), on the channel the cache's trigger notifies (migration 0003p:
`vidpipe_assets`, payload = the asset id, sent at commit of any change to an asset, its jobs, outputs or
media info). The hub loads each changed asset's view once, with one query per burst, and fans the JSON out to
the per-client queues of the streams that want that asset; a client that falls behind is dropped (its
EventSource reconnects and gets the current state again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

import anyio.to_thread
import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import func, select

from vidpipe.api import views
from vidpipe.api.deps import BearerDep, CallerDep, HeaderKeyDep, RuntimeDep, SessionDep, get_caller
from vidpipe.api.schemas import ErrorBody
from vidpipe.cache.invalidation import CHANNEL, libpq_url
from vidpipe.db.models import Job
from vidpipe.runtime import Runtime
from vidpipe.stages import registry
from vidpipe.states import LIVE_JOB_STATUSES, JobStatus

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"], responses={401: {"model": ErrorBody}})

KEEPALIVE_SECONDS = 15.0
QUEUE_SIZE = 256  # asset views waiting for one slow client before it is dropped
RETRY_SECONDS = 1.0


@dataclass(eq=False)
class Subscriber:
    assets: frozenset[str] | None  # None: every asset
    queue: asyncio.Queue[tuple[str, str | None] | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def wants(self, asset_id: str) -> bool:
        return self.assets is None or asset_id in self.assets


class Hub:
    """The process's one LISTEN connection (started with the first subscriber) and its fan-out."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.subscribers: set[Subscriber] = set()
        self.ready = asyncio.Event()  # LISTEN is in place
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.notifications = 0

    def subscribe(self, assets: frozenset[str] | None) -> Subscriber:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._deliver())]
        sub = Subscriber(assets)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for sub in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)

    async def _listen(self) -> None:
        while True:
            try:  # the URL is read per connection: it carries the current password after a rotation
                url = libpq_url(self.rt.db.url)
                async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    if self.ready.is_set():  # back after a gap: notifications were lost, everyone resyncs
                        self._drop_all()
                    self.ready.set()
                    log.info("live.listening", extra={"channel": CHANNEL})
                    async for note in conn.notifies():
                        self.notifications += 1
                        if any(s.wants(note.payload) for s in self.subscribers):
                            self._dirty.add(note.payload)
                            self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live.listen_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                await asyncio.sleep(RETRY_SECONDS)

    def _drop_all(self) -> None:
        for sub in list(self.subscribers):
            self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(None)  # the stream ends; the browser reconnects and starts from the current state

    async def _deliver(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            ids, self._dirty = self._dirty, set()
            try:
                loaded = await anyio.to_thread.run_sync(load_views, self.rt, ids)
            except Exception as exc:  # the database is away: streams end and reconnect later
                log.warning("live.load_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
                self._drop_all()
                continue
            for asset_id in ids:
                body = loaded.get(asset_id)
                for sub in list(self.subscribers):
                    if sub.wants(asset_id):
                        try:
                            sub.queue.put_nowait((asset_id, body))
                        except asyncio.QueueFull:
                            self._drop(sub)


def load_views(rt: Runtime, ids: set[str] | list[str]) -> dict[str, str]:
    """asset id -> JSON as GET /v1/assets/{id} returns it (deleted assets are missing)."""
    parsed = []
    for raw in ids:
        with contextlib.suppress(ValueError):
            parsed.append(uuid.UUID(raw))
    with rt.db.session() as s:
        found = views.load_assets(s, parsed, rt.settings.public_base_url, rt.playback)
    return {str(a.id): a.model_dump_json() for a in found}


@contextlib.asynccontextmanager
async def running(app: FastAPI, rt: Runtime) -> AsyncIterator[None]:
    """The hub for the life of the API process (its lifespan)."""
    app.state.live_hub = hub = Hub(rt)
    try:
        yield
    finally:
        await hub.close()


def _hub(request: Request) -> Hub:
    hub = getattr(request.app.state, "live_hub", None)
    if hub is None:  # an app driven without its lifespan
        hub = request.app.state.live_hub = Hub(request.app.state.runtime)
    return hub


async def stream_caller(request: Request, rt: RuntimeDep, bearer: BearerDep, header_key: HeaderKeyDep) -> str:
    """CallerDep without a request-long database session (a stream lasts for hours)."""
    def check() -> str:
        with rt.db.session() as s:
            return get_caller(request, s, rt, bearer, header_key)

    return await anyio.to_thread.run_sync(check)


def _event(asset_id: str, body: str | None) -> str:
    if body is None:
        return f"event: deleted\ndata: {json.dumps({'id': asset_id})}\n\n"
    return f"event: asset\nid: {asset_id}\ndata: {body}\n\n"


@router.get("/events/stream", response_class=StreamingResponse, response_model=None,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: asset` (data: the asset as GET /v1/assets/{id}), "
                                            "`event: deleted` (data: {\"id\"}), `: keep-alive` every 15 s"}})
async def event_stream(request: Request, rt: RuntimeDep, caller: Annotated[str, Depends(stream_caller)],
                       asset_id: Annotated[list[uuid.UUID] | None, Query(max_length=100)] = None
                       ) -> StreamingResponse:
    """Changes of the given assets (`?asset_id=..&asset_id=..`), or of every asset without a filter, as they
    are committed. With a filter, the current state of each is sent first."""
    hub = _hub(request)
    wanted = frozenset(str(a) for a in asset_id) if asset_id else None
    sub = hub.subscribe(wanted)

    async def events() -> AsyncIterator[str]:
        try:
            yield f"retry: {int(RETRY_SECONDS * 2000)}\n\n"
            if wanted:
                await asyncio.wait_for(hub.ready.wait(), 10)  # LISTEN first, then read: no change falls between
                current = await anyio.to_thread.run_sync(load_views, rt, sorted(wanted))
                for a in sorted(wanted):
                    yield _event(a, current.get(a))
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if item is None:
                    return
                yield _event(*item)
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class StageQueue(BaseModel):
    stage: str
    queued: int
    running: int


class RunningJob(BaseModel):
    id: int
    asset_id: uuid.UUID | None
    stage: str
    worker: str | None
    percent: float
    attempts: int
    started_at: datetime | None


class Stats(BaseModel):
    stages: list[StageQueue]
    running: list[RunningJob]
    dead: int
    failed: int


@router.get("/stats", response_model=Stats)
def stats(session: SessionDep, caller: CallerDep) -> Stats:
    """Queue depth per stage (queued, incl. waiting for a retry; running), running jobs, dead and failed jobs."""
    counts = session.execute(select(Job.stage, Job.status, func.count()).where(
        Job.status.in_((*LIVE_JOB_STATUSES, JobStatus.DEAD, JobStatus.FAILED))).group_by(Job.stage, Job.status)).all()
    per_stage: dict[str, dict[str, int]] = {name: {"queued": 0, "running": 0} for name in registry.STAGES}
    dead = failed = 0
    for stage, status_, n in counts:
        if status_ in ("queued", "running"):
            per_stage.setdefault(stage, {"queued": 0, "running": 0})[status_] = n
        elif status_ == JobStatus.DEAD:
            dead += n
        else:
            failed += n
    running = session.scalars(select(Job).where(Job.status == JobStatus.RUNNING).order_by(Job.started_at, Job.id)
                              .limit(200)).all()
    return Stats(stages=[StageQueue(stage=k, **v) for k, v in per_stage.items()],
                 running=[RunningJob(id=j.id, asset_id=j.asset_id, stage=j.stage, worker=j.worker_id,
                                     percent=round(max(0.0, min(1.0, j.progress)) * 100, 1), attempts=j.attempts,
                                     started_at=j.started_at) for j in running],
                 dead=dead, failed=failed)

