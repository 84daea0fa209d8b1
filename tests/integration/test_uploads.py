"""Resumable chunked uploads: offsets, repeats, a chunk cut off mid-way, resuming from a new connection,
finalizing through ingest (dedupe, asset + jobs once), refused files and expired sessions."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update

from tests.integration.test_api import Api
from vidpipe.api.routers.uploads import CHUNK_SIZE, upload_path
from vidpipe.db import apikeys
from vidpipe.db.models import Asset, Job
from vidpipe.db.models.web import UploadSession
from vidpipe.ffmpeg import samples
from vidpipe.server import create_app

OCTETS = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return samples.make_video(tmp_path_factory.mktemp("up") / "c.mp4", seconds=1, width=320, height=240).read_bytes()


@pytest.fixture
def key(runtime) -> str:
    with runtime.db.session() as s, s.begin():
        s.execute(text("TRUNCATE web_sessions, processing_profiles, upload_sessions"))
        return apikeys.create_key(s, "uploader").secret


@pytest.fixture
def api(runtime, key) -> Iterator[Api]:
    client = Api(create_app(runtime), key)
    yield client
    client.close()


def _patch(api: Api, upload_id: str, offset: int, body: Any, **headers: str) -> httpx.Response:
    return api.request("PATCH", f"/v1/uploads/{upload_id}", content=body,
                       headers={**OCTETS, "Upload-Offset": str(offset), **headers})


def _head_offset(api: Api, upload_id: str) -> int:
    r = api.request("HEAD", f"/v1/uploads/{upload_id}")
    assert r.status_code == 204
    return int(r.headers["upload-offset"])


def test_three_chunks_with_a_repeat_a_mismatch_and_a_cut_off_chunk_make_one_asset(runtime, api, key, clip):
    r = api.post("/v1/uploads", json={"filename": "clip.mp4", "size": len(clip), "profile": "preview",
                                      "title": "Chunked", "tags": ["a", "b"]})
    assert r.status_code == 201, r.text
    up = r.json()
    assert (up["offset"], up["size"], up["chunk_size"]) == (0, len(clip), CHUNK_SIZE == 8388608 and CHUNK_SIZE)
    assert r.headers["location"] == f"/v1/uploads/{up['id']}"
    uid, third = up["id"], len(clip) // 3
    parts = [clip[:third], clip[third:2 * third], clip[2 * third:]]

    assert _patch(api, uid, 0, parts[0]).json() == {"offset": third, "asset": None, "duplicate": None}
    again = _patch(api, uid, 0, parts[0])  # the answer was lost, the client sends it again
    assert again.status_code == 409 and again.json()["error"]["code"] == "offset_mismatch"
    assert again.json()["offset"] == third and again.headers["upload-offset"] == str(third)
    ahead = _patch(api, uid, 2 * third, parts[2])
    assert ahead.status_code == 409 and ahead.json()["offset"] == third

    arrived = 1000

    async def cut_off() -> AsyncIterator[bytes]:
        yield parts[1][:arrived]
        raise ConnectionResetError("network went away")

    r = _patch(api, uid, third, cut_off())
    assert r.status_code == 400 and r.json()["error"]["code"] == "client_disconnected"
    assert _head_offset(api, uid) == third + arrived  # what arrived is kept, nothing else
    assert upload_path(runtime, up["id"]).stat().st_size == third + arrived

    # "Reconnect": a new client asks where to go on from and sends the rest.
    fresh = Api(create_app(runtime), key)
    try:
        offset = _head_offset(fresh, uid)
        assert fresh.get(f"/v1/uploads/{uid}").json()["offset"] == offset
        assert _patch(fresh, uid, offset, clip[offset:2 * third]).json()["offset"] == 2 * third
        done = _patch(fresh, uid, 2 * third, parts[2])
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["offset"] == len(clip) and body["duplicate"] is False
        asset = body["asset"]
        assert asset["sha256"] == hashlib.sha256(clip).hexdigest() and asset["size_bytes"] == len(clip)
        assert (asset["title"], asset["tags"], asset["profile"], asset["original_name"]) == (
            "Chunked", ["a", "b"], "preview", "clip.mp4")
        assert asset == fresh.get(f"/v1/assets/{asset['id']}").json() | {"duplicate": None}
        # The last PATCH repeated (its answer was lost): the same answer, still one asset.
        repeat = _patch(fresh, uid, len(clip), b"")
        assert repeat.status_code == 200 and repeat.json()["asset"]["id"] == asset["id"]
        status = fresh.get(f"/v1/uploads/{uid}").json()
        assert status["asset_id"] == asset["id"] and status["offset"] == len(clip)
    finally:
        fresh.close()
    assert not upload_path(runtime, up["id"]).exists()
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 1
        assert s.scalar(select(func.count()).select_from(Job).where(Job.asset_id == asset["id"])) >= 1

    # The same bytes again in one chunk: recognised, not a second asset.
    dup = api.post("/v1/uploads", json={"filename": "again.mp4", "size": len(clip)}).json()
    r = _patch(api, dup["id"], 0, clip)
    assert r.json()["duplicate"] is True and r.json()["asset"]["id"] == asset["id"]


def test_refusals(runtime, api, clip):
    r = api.post("/v1/uploads", json={"filename": "huge.mp4", "size": runtime.settings.limits.max_upload_bytes + 1})
    assert r.status_code == 413 and r.json()["error"]["code"] == "limit_exceeded"
    r = api.post("/v1/uploads", json={"filename": "x.mp4", "size": 10, "profile": "no-such"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_profile"
    uid = api.post("/v1/uploads", json={"filename": "x.mp4", "size": 10}).json()["id"]
    r = api.request("PATCH", f"/v1/uploads/{uid}", content=b"12345", headers={"Upload-Offset": "0",
                                                                           "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = _patch(api, uid, 0, b"x" * 11)  # more than the declared size
    assert r.status_code == 413 and _head_offset(api, uid) == 0
    assert api.request("PATCH", f"/v1/uploads/{uid}", content=b"1", headers=OCTETS).status_code == 422  # no offset
    # Someone else's upload does not exist for this key.
    with runtime.db.session() as s, s.begin():
        other = apikeys.create_key(s, "other").secret
    assert api.get(f"/v1/uploads/{uid}", headers={"Authorization": f"Bearer {other}"}).status_code == 404
    # A request already writing to the upload (elsewhere) holds its lock: the next one is told to wait.
    fd = os.open(upload_path(runtime, uid), os.O_WRONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = _patch(api, uid, 0, b"12345")
        assert r.status_code == 409 and r.json()["error"]["code"] == "upload_busy"
    finally:
        os.close(fd)
    assert _patch(api, uid, 0, b"12345").json()["offset"] == 5


def test_an_empty_file_is_refused_with_the_reason_and_forgotten(runtime, api):
    uid = api.post("/v1/uploads", json={"filename": "empty.mp4", "size": 0}).json()["id"]
    r = _patch(api, uid, 0, b"")
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_file"
    assert api.get(f"/v1/uploads/{uid}").status_code == 404
    assert not upload_path(runtime, uid).exists()


def test_junk_is_ingested_and_fails_in_the_pipeline_not_at_upload(runtime, api):
    junk = os.urandom(3000)
    uid = api.post("/v1/uploads", json={"filename": "junk.mp4", "size": len(junk)}).json()["id"]
    r = _patch(api, uid, 0, junk)
    assert r.status_code == 200 and r.json()["asset"]["status"] == "queued"


def test_expired_uploads_are_swept(runtime, api):
    uid = api.post("/v1/uploads", json={"filename": "old.mp4", "size": 100}).json()["id"]
    assert _patch(api, uid, 0, b"x" * 10).json()["offset"] == 10
    with runtime.db.session() as s, s.begin():
        s.execute(update(UploadSession).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    assert api.get(f"/v1/uploads/{uid}").status_code == 404
    api.post("/v1/uploads", json={"filename": "new.mp4", "size": 100})
    assert not upload_path(runtime, uid).exists()
    with runtime.db.session() as s:
        assert s.get(UploadSession, uid) is None
