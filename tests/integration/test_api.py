"""The REST API against real databases (both servers), a real media store and real media bytes.

Requests go through httpx's ASGITransport: it streams request bodies chunk by chunk (starlette's TestClient
buffers them whole), which the upload memory test needs.
"""

from __future__ import annotations

import asyncio
import os
import resource
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select, text

from vidpipe.api import views
from vidpipe.db import apikeys
from vidpipe.db.models import Artifact, Asset, Event, Job, MediaInfo, Rendition
from vidpipe.ffmpeg import samples
from vidpipe.server import create_app
from vidpipe.stages import registry

BOUNDARY = "vidpipe-test-boundary-7f3a"


class Api:
    """A synchronous face over httpx.AsyncClient + ASGITransport, one event loop per test."""

    def __init__(self, app: Any, key: str | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.key = key
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test",
                                        timeout=120)

    def request(self, method: str, url: str, *, auth: bool = True, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        if auth and self.key and "authorization" not in {h.lower() for h in headers}:
            headers["Authorization"] = f"Bearer {self.key}"
        return self.loop.run_until_complete(self.client.request(method, url, headers=headers, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def api(runtime) -> Iterator[Api]:
    with runtime.db.session() as s, s.begin():
        key = apikeys.create_key(s, "tester").secret
    client = Api(create_app(runtime), key)
    yield client
    client.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = samples.make_video(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=1, width=320, height=240)
    return path.read_bytes()


def _upload(api: Api, data: bytes, name: str = "clip.mp4", **fields: str) -> httpx.Response:
    return api.post("/v1/assets", files={"file": (name, data, "video/mp4")}, data=fields)


def _form(filename: str | bytes, payload: bytes, **fields: str) -> tuple[bytes, bytes, bytes]:
    """A hand-made multipart body (head, file bytes, tail), so tests control every byte of it."""
    if isinstance(filename, str):
        filename = filename.encode()
    head = b"".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                    for k, v in fields.items())
    head += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".encode() + filename
             + b'"\r\nContent-Type: video/mp4\r\n\r\n')
    return head, payload, f"\r\n--{BOUNDARY}--\r\n".encode()


def _multipart_headers() -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _count(runtime, model) -> int:
    with runtime.db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


# --- auth, health, errors --------------------------------------------------------------------------------
def test_v1_needs_a_valid_key_and_probes_do_not(api):
    for headers in ({}, {"Authorization": "Bearer vp_wrong"}, {"X-API-Key": "nope"}):
        r = api.get("/v1/assets", auth=False, headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["code"] == "unauthorized"
    assert api.get("/v1/assets", auth=False, headers={"X-API-Key": api.key}).status_code == 200
    assert api.get("/v1/assets").status_code == 200
    assert api.get("/v1/media/x/y", auth=False, params={"api_key": "bad"}).status_code == 401
    # A good key in the query string is refused too: URLs end up in access logs, histories and Referer headers.
    assert api.get("/v1/assets", auth=False, params={"api_key": api.key}).status_code == 401
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert api.get(path, auth=False).status_code == 200, path
    assert api.get("/readyz", auth=False).json() == {"status": "ready"}


def test_readyz_reports_an_unwritable_media_store(api, runtime, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(runtime.media_store, "open_staging", refuse)
    r = api.get("/readyz", auth=False)
    assert r.status_code == 503 and "media store" in r.json()["problems"][0]


def test_error_shapes(api, monkeypatch, caplog):
    r = api.get("/v1/assets/not-a-uuid")
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = api.get(f"/v1/assets/{uuid.uuid4()}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert api.get("/v1/nothing-here").json()["error"]["code"] == "not_found"

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "load_asset", boom)
    r = api.get(f"/v1/assets/{uuid.uuid4()}")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "internal error"}}
    assert "secret internals" not in r.text
    assert any(rec.message == "api.unhandled" for rec in caplog.records)


# --- create ---------------------------------------------------------------------------------------------
def test_upload_creates_asset_queues_probe_and_recognises_duplicates(api, runtime, clip):
    r = _upload(api, clip, title="My clip", tags="a, b,,a", description="d", priority="5")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["duplicate"], body["title"], body["tags"]) == ("queued", False, "My clip", ["a", "b"])
    assert body["size_bytes"] == len(clip) and body["original_name"] == "clip.mp4"
    assert [s["stage"] for s in body["stages"]] == list(registry.STAGES)
    assert [s["status"] for s in body["stages"]] == ["queued"] + ["pending"] * (len(registry.STAGES) - 1)
    assert body["original_url"] == f"/v1/media/{body['id']}/original"
    with runtime.db.session() as s:
        job = s.scalar(select(Job))
        assert (job.stage, job.status, str(job.asset_id)) == ("probe", "queued", body["id"])
        assert job.priority >= 5
        names = s.scalars(select(Event.event).order_by(Event.id)).all()
        assert "asset.created" in names and "job.queued" in names
        assert s.scalar(select(Event.actor).where(Event.event == "asset.created")) == "key:tester"
    assert (runtime.settings.media_root / body["id"] / "original").read_bytes() == clip

    again = _upload(api, clip, name="other-name.mp4")
    assert again.status_code == 200 and again.json()["duplicate"] is True and again.json()["id"] == body["id"]
    assert _count(runtime, Asset) == 1
    assert _files_in(runtime.settings.media_root) == [runtime.settings.media_root / body["id"] / "original"]


def test_fields_after_the_file_part_count(api, runtime, clip):
    head, payload, tail = _form("late.mp4", clip)
    late = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nLate title\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="profile"\r\n\r\npreview\r\n').encode()
    body = head + payload + b"\r\n" + late + f"--{BOUNDARY}--\r\n".encode()
    r = api.post("/v1/assets", content=body, headers=_multipart_headers())
    assert r.status_code == 201, r.text
    assert (r.json()["title"], r.json()["profile"]) == ("Late title", "preview")


def test_empty_and_missing_files_are_422(api, runtime):
    r = _upload(api, b"")
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_file"
    r = api.post("/v1/assets", data={"title": "no file"}, files={"other": ("x", b"abc")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_file"
    r = api.post("/v1/assets", content=b"garbage", headers=_multipart_headers())
    assert r.status_code == 422
    r = api.post("/v1/assets", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unsupported_content_type"
    assert _count(runtime, Asset) == 0 and _files_in(runtime.settings.media_root) == []


def test_over_the_size_limit_is_413_and_leaves_nothing(api, runtime):
    runtime.settings.limits.max_upload_bytes = 10_000
    payload = os.urandom(200_000)
    r = _upload(api, payload)  # Content-Length says so: refused before reading
    assert r.status_code == 413 and r.json()["error"]["code"] == "limit_exceeded"
    head, _, tail = _form("big.mp4", b"")

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: caught while streaming
        yield head
        for i in range(0, len(payload), 4096):
            yield payload[i:i + 4096]
        yield tail

    r = api.post("/v1/assets", content=chunked(), headers=_multipart_headers())
    assert r.status_code == 413 and r.json()["error"]["code"] == "limit_exceeded"
    assert _count(runtime, Asset) == 0 and _count(runtime, Job) == 0
    assert _files_in(runtime.settings.media_root) == []


def test_truncated_upload_is_422_and_leaves_nothing(api, runtime, clip):
    head, payload, _ = _form("cut.mp4", clip)
    r = api.post("/v1/assets", content=head + payload[:5000], headers=_multipart_headers())
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_multipart"
    assert _count(runtime, Asset) == 0 and _files_in(runtime.settings.media_root) == []


def test_hostile_file_name_is_sanitised_and_stays_inside(api, runtime, clip, tmp_path):
    head, payload, tail = _form(b"../../etc/passwd\x07.mp4", clip)
    r = api.post("/v1/assets", content=head + payload + tail, headers=_multipart_headers())
    assert r.status_code == 201, r.text
    name = r.json()["original_name"]
    assert "/" not in name and "\x07" not in name and ".." not in name and name.endswith(".mp4")
    media = runtime.settings.media_root
    assert _files_in(media) == [media / r.json()["id"] / "original"]
    assert not (tmp_path / "etc").exists() and not (media.parent / "etc").exists()


def test_json_path_and_url_sources(api, runtime, clip, tmp_path):
    r = api.post("/v1/assets", json={"path": "/etc/hostname"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsafe_source"
    r = api.post("/v1/assets", json={"path": str(tmp_path / ".." / "x.mp4")})
    assert r.status_code in (400, 422) and r.json()["error"]["code"] in ("unsafe_source", "invalid_input")
    r = api.post("/v1/assets", json={"url": "http://127.0.0.1:9/video.mp4"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsafe_source"
    r = api.post("/v1/assets", json={"url": "http://x/a.mp4", "path": "/a"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    inside = tmp_path / "imports" / "inside.mp4"
    inside.parent.mkdir()
    inside.write_bytes(clip)
    r = api.post("/v1/assets", json={"path": str(inside), "title": "From disk", "tags": ["x"]})
    assert r.status_code == 201, r.text
    assert (r.json()["source_kind"], r.json()["title"], r.json()["original_name"]) == ("path", "From disk",
                                                                                      "inside.mp4")
    assert runtime.settings.import_roots == [tmp_path]  # the API never adds roots


# --- read, list, update, delete -------------------------------------------------------------------------
def _insert_assets(runtime, specs: list[dict[str, Any]]) -> list[uuid.UUID]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    with runtime.db.session() as s, s.begin():
        for i, spec in enumerate(specs):
            aid = uuid.uuid4()
            created = spec.get("created_at", base + timedelta(minutes=i))
            s.add(Asset(id=aid, title=spec.get("title", f"asset {i}"), source_kind="upload",
                        sha256=uuid.uuid4().hex * 2, size_bytes=100, original_key=f"{aid}/original",
                        status=spec.get("status", "ready"),
                        created_at=created))
            s.flush()
            if "height" in spec:
                s.add(MediaInfo(asset_id=aid, format="mp4", duration=spec["duration"], width=spec["height"] * 16 // 9,
                                height=spec["height"], video_codec=spec["codec"], audio_codec="aac", has_video=True,
                                has_audio=True, probe={}))
            ids.append(aid)
    return ids


def test_list_filters_and_stable_cursor_pagination(api, runtime):
    same = datetime(2026, 2, 1, tzinfo=UTC)  # equal timestamps: the id breaks the tie
    ids = _insert_assets(runtime, [
        {"height": 1080, "codec": "h264", "duration": 60.0, "title": "Cats at home"},
        {"height": 720, "codec": "h264", "duration": 10.0, "title": "Dogs 100%"},
        {"height": 2160, "codec": "hevc", "duration": 300.0, "status": "failed"},
        {"height": 480, "codec": "vp9", "duration": 5.0},
        {"title": "no media yet", "status": "queued"},
        {"height": 1080, "codec": "av1", "duration": 30.0, "created_at": same},
        {"height": 360, "codec": "h264", "duration": 2.0, "created_at": same},
    ])
    seen, cursor, pages = [], None, 0
    while True:
        r = api.get("/v1/assets", params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += [item["id"] for item in r.json()["items"]]
        cursor, pages = r.json()["next_cursor"], pages + 1
        if pages == 1:  # a new asset arriving mid-listing lands on page one, not in the middle
            _insert_assets(runtime, [{"created_at": datetime(2030, 1, 1, tzinfo=UTC), "title": "late"}])
        if not cursor:
            break
    assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7
    created = {str(i): n for n, i in enumerate(ids)}
    assert [created[i] for i in seen[:2]] == [6, 5] or [created[i] for i in seen[:2]] == [5, 6]
    assert [created[i] for i in seen[2:]] == [4, 3, 2, 1, 0]

    def titles(**params: Any) -> list[str]:
        r = api.get("/v1/assets", params=params)
        assert r.status_code == 200, r.text
        return sorted(item["title"] for item in r.json()["items"])

    assert titles(min_height=1080) == ["Cats at home", "asset 2", "asset 5"]
    assert titles(codec="H264") == ["Cats at home", "Dogs 100%", "asset 6"]
    assert titles(min_duration=10, max_duration=60) == ["Cats at home", "Dogs 100%", "asset 5"]
    assert titles(status="failed") == ["asset 2"]
    assert titles(q="cats") == ["Cats at home"]
    assert titles(q="100%") == ["Dogs 100%"] and titles(q="%") == ["Dogs 100%"]
    assert api.get("/v1/assets", params={"limit": 101}).status_code == 422
    assert api.get("/v1/assets", params={"cursor": "garbage!"}).json()["error"]["code"] == "invalid_cursor"
    item = api.get(f"/v1/assets/{ids[0]}").json()
    assert item["media"]["height"] == 1080 and item["media"]["video_codec"] == "h264" and item["duplicate"] is None
    assert api.get(f"/v1/assets/{ids[4]}").json()["media"] is None


def test_get_asset_shows_outputs_in_at_most_three_queries(api, runtime):
    [aid] = _insert_assets(runtime, [{"height": 720, "codec": "h264", "duration": 4.0}])
    with runtime.db.session() as s, s.begin():
        for name, height in (("360p", 360), ("720p", 720)):
            s.add(Rendition(asset_id=aid, name=name, kind="video", playlist_key=f"{aid}/hls/{name}/index.m3u8",
                            width=height * 16 // 9, height=height, bandwidth=height * 1000, codecs="avc1"))
        for kind, key, ctype in (("hls_master", "hls/master.m3u8", "application/vnd.apple.mpegurl"),
                                 ("hls_segment", "hls/720p/seg_00001.ts", "video/mp2t"),
                                 ("poster", "thumbs/poster.jpg", "image/jpeg"),
                                 ("sprite_vtt", "thumbs/sprites.vtt", "text/vtt")):
            s.add(Artifact(asset_id=aid, stage="x", kind=kind, key=f"{aid}/{key}", content_type=ctype, size_bytes=1))
        s.add(Job(asset_id=aid, stage="probe", status="succeeded", progress=1.0, attempts=1))
        s.add(Job(asset_id=aid, stage="transcode", status="running", progress=0.25, attempts=2))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        r = api.get(f"/v1/assets/{aid}")
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)
    assert r.status_code == 200, r.text
    assert len(statements) <= 3, statements
    body = r.json()
    assert [x["name"] for x in body["renditions"]] == ["720p", "360p"]
    assert body["renditions"][0]["url"] == f"/v1/media/{aid}/hls/720p/index.m3u8"
    assert {a["kind"] for a in body["artifacts"]} == {"hls_master", "poster", "sprite_vtt"}
    assert body["hls_master_url"] == f"/v1/media/{aid}/hls/master.m3u8"
    assert body["poster_url"].endswith("/thumbs/poster.jpg") and body["sprite_vtt_url"].endswith("sprites.vtt")
    stages = {s["stage"]: s for s in body["stages"]}
    assert stages["probe"]["status"] == "succeeded" and stages["probe"]["progress_percent"] == 100
    assert (stages["transcode"]["status"], stages["transcode"]["progress_percent"]) == ("running", 25)
    assert stages["thumbnails"]["status"] == "pending"
    runtime.settings.public_base_url = "https://cdn.example/"
    assert api.get(f"/v1/assets/{aid}").json()["poster_url"] == f"https://cdn.example/v1/media/{aid}/thumbs/poster.jpg"


def test_patch_records_an_event(api, runtime, clip):
    aid = _upload(api, clip).json()["id"]
    r = api.request("PATCH", f"/v1/assets/{aid}", json={"title": "New", "tags": ["x", " y "]})
    assert r.status_code == 200 and (r.json()["title"], r.json()["tags"]) == ("New", ["x", "y"])
    assert r.json()["description"] == ""
    assert api.request("PATCH", f"/v1/assets/{aid}", json={"bogus": 1}).status_code == 422
    events_ = api.get(f"/v1/assets/{aid}/events").json()["items"]
    updated = [e for e in events_ if e["event"] == "asset.updated"]
    assert len(updated) == 1 and updated[0]["actor"] == "key:tester"
    assert updated[0]["detail"]["changes"] == {"title": "New", "tags": ["x", "y"]}


def test_delete_removes_rows_and_media_but_keeps_the_audit_log(api, runtime, clip):
    aid = _upload(api, clip).json()["id"]
    with runtime.db.session() as s, s.begin():
        s.execute(text("UPDATE jobs SET status = 'running', worker_id = 'w' WHERE asset_id = :a"), {"a": aid})
    assert (runtime.settings.media_root / aid / "original").exists()
    r = api.request("DELETE", f"/v1/assets/{aid}")
    assert r.status_code == 204
    assert _count(runtime, Asset) == 0 and _count(runtime, Job) == 0
    assert not (runtime.settings.media_root / aid).exists()
    assert api.get(f"/v1/assets/{aid}").status_code == 404
    names = [e["event"] for e in api.get(f"/v1/assets/{aid}/events").json()["items"]]
    assert "asset.deleted" in names and "job.cancel_requested" in names
    assert api.request("DELETE", f"/v1/assets/{aid}").status_code == 404


# --- media ----------------------------------------------------------------------------------------------
def test_media_ranges_types_and_validators(api, runtime, clip, tmp_path):
    aid = uuid.UUID(_upload(api, clip).json()["id"])
    seg = tmp_path / "seg.ts"
    seg.write_bytes(bytes(range(256)) * 10)
    key = f"{aid}/hls/720p/seg_00001.ts"
    runtime.media_store.put_file(key, seg)
    with runtime.db.session() as s, s.begin():
        s.add(Artifact(asset_id=aid, stage="transcode", kind="hls_segment", key=key, content_type="video/mp2t",
                       size_bytes=2560))
    data = seg.read_bytes()
    url = f"/v1/media/{key}"
    full = api.get(url)
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "video/mp2t" and full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-length"] == "2560" and full.headers["etag"]
    for header, expected, content_range in (("bytes=0-99", data[:100], "bytes 0-99/2560"),
                                            ("bytes=-100", data[-100:], "bytes 2460-2559/2560"),
                                            ("bytes=2500-", data[2500:], "bytes 2500-2559/2560"),
                                            ("bytes=2500-99999", data[2500:], "bytes 2500-2559/2560")):
        r = api.get(url, headers={"Range": header})
        assert r.status_code == 206, header
        assert r.content == expected and r.headers["content-range"] == content_range
    r = api.get(url, headers={"Range": "bytes=5000-"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */2560"
    assert api.get(url, headers={"Range": "bytes=0-1,5-6"}).status_code == 200  # multiple ranges: all of it
    assert api.get(url, headers={"If-None-Match": full.headers["etag"]}).status_code == 304
    assert api.get(url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'}).status_code == 200
    head = api.request("HEAD", url)
    assert head.status_code == 200 and head.headers["content-length"] == "2560" and head.content == b""

    original = api.get(f"/v1/media/{aid}/original", headers={"Range": "bytes=0-9"})
    assert original.status_code == 206 and original.content == clip[:10]
    assert original.headers["content-type"] == "video/mp4"
    assert api.get(f"/v1/media/{aid}/hls/720p/seg_00002.ts").status_code == 404  # not a known output
    assert api.get(f"/v1/media/{aid}/..%2F..%2Fetc%2Fpasswd").status_code in (400, 404)
    assert api.get(f"/v1/media/{aid}/.incoming").status_code in (400, 404)
    by_query = api.get(url, auth=False, params={"api_key": api.key})  # players use signed URLs instead
    assert by_query.status_code == 401 and data not in by_query.content


# --- jobs and reprocessing ------------------------------------------------------------------------------
def test_dead_letter_list_retry_and_cancel(api, runtime):
    [aid, other] = _insert_assets(runtime, [{"status": "failed"}, {"status": "queued"}])
    with runtime.db.session() as s, s.begin():
        dead = Job(asset_id=aid, stage="transcode", status="dead", attempts=5, last_error="flaky")
        queued = Job(asset_id=other, stage="probe", status="queued")
        s.add_all([dead, queued])
    r = api.get("/v1/jobs", params={"status": "dead"})
    assert r.status_code == 200 and [j["id"] for j in r.json()["items"]] == [dead.id]
    assert r.json()["items"][0]["last_error"] == "flaky"
    assert [j["id"] for j in api.get("/v1/jobs", params={"asset_id": str(other)}).json()["items"]] == [queued.id]
    page = api.get("/v1/jobs", params={"limit": 1}).json()
    assert page["items"][0]["id"] == queued.id and page["next_cursor"]
    assert api.get("/v1/jobs", params={"cursor": page["next_cursor"]}).json()["items"][0]["id"] == dead.id

    r = api.post(f"/v1/jobs/{dead.id}/retry")
    assert r.status_code == 200 and (r.json()["status"], r.json()["attempts"]) == ("queued", 0)
    assert api.get(f"/v1/assets/{aid}").json()["status"] == "processing"
    assert api.post(f"/v1/jobs/{dead.id}/retry").json()["error"]["code"] == "conflict"
    r = api.post(f"/v1/jobs/{queued.id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert api.post(f"/v1/jobs/{queued.id}/cancel").status_code == 409
    assert api.get("/v1/jobs/999999").status_code == 404


def test_reprocess_one_and_all(api, runtime):
    [a, b] = _insert_assets(runtime, [{}, {}])
    r = api.post(f"/v1/assets/{a}/reprocess")
    assert r.status_code == 202 and r.json()["stage"] == "probe" and r.json()["job_id"]
    # transcode needs a succeeded probe: the probe runs first
    r = api.post(f"/v1/assets/{b}/reprocess", json={"stage": "transcode"})
    assert r.status_code == 202 and r.json()["stage"] == "probe"
    assert api.post(f"/v1/assets/{a}/reprocess", json={"stage": "nope"}).json()["error"]["code"] == "unknown_stage"
    with runtime.db.session() as s, s.begin():
        s.execute(text("UPDATE jobs SET status = 'dead'"))
    r = api.post("/v1/reprocess", json={"stage": "probe"})
    assert r.status_code == 202 and r.json() == {"stage": "probe", "queued": 2}
    assert api.post("/v1/reprocess", json={"stage": "probe"}).json()["queued"] == 0
    assert api.get(f"/v1/assets/{a}").json()["status"] == "processing"


def test_reprocess_failed_reruns_every_failed_asset_from_probe(api, runtime):
    [failed, ready, busy] = _insert_assets(runtime, [{"status": "failed"}, {"status": "ready"}, {"status": "failed"}])
    with runtime.db.session() as s, s.begin():
        s.add_all([Job(asset_id=failed, stage="probe", status="failed", last_error="no decodable picture"),
                   Job(asset_id=busy, stage="probe", status="queued")])  # a live job already covers it
    r = api.post("/v1/reprocess", json={"failed": True})
    assert r.status_code == 202 and r.json() == {"stage": "probe", "queued": 1}
    asset = api.get(f"/v1/assets/{failed}").json()
    assert asset["status"] == "processing"
    assert api.get(f"/v1/assets/{ready}").json()["status"] == "ready"
    assert api.post("/v1/reprocess", json={"failed": True}).json()["queued"] == 0
    assert api.post("/v1/reprocess", json={}).status_code == 422


# --- streaming ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_upload_streams_without_growing_memory(api, runtime):
    size = 200 * 1024 * 1024
    head, _, tail = _form("big.bin", b"")
    block = os.urandom(1024 * 1024)

    async def body() -> AsyncIterator[bytes]:
        yield head
        for i in range(size // len(block)):
            yield i.to_bytes(8, "big") + block[8:]  # every chunk differs: a fresh object each time
        yield tail

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        r = api.post("/v1/assets", content=body(), headers=_multipart_headers())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert r.status_code == 201, r.text
    assert r.json()["size_bytes"] == size
    assert peak < 30 * 1024 * 1024, f"traced peak {peak / 2**20:.1f} MiB"
    assert rss_growth < 60 * 1024 * 1024, f"peak RSS grew {rss_growth / 2**20:.1f} MiB"
    assert (runtime.settings.media_root / r.json()["id"] / "original").stat().st_size == size
