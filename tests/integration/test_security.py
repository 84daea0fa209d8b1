"""Security of the API: key roles, signed playback URLs instead of keys in URLs, request size limits and hostile
input answered with 4xx (never 500). Real database, real media store, requests through the ASGI app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select

from tests.integration.test_api import Api, _insert_assets
from vidpipe.api.sessions import COOKIE
from vidpipe.db import apikeys
from vidpipe.db.models import Artifact, Asset
from vidpipe.server import create_app

ORIGIN = {"Origin": "http://api.test"}


@pytest.fixture
def keys(runtime) -> dict[str, str]:
    with runtime.db.session() as s, s.begin():
        return {role: apikeys.create_key(s, f"{role}-key", role=role).secret for role in apikeys.ROLES}


@pytest.fixture
def client(runtime) -> Iterator[Api]:
    c = Api(create_app(runtime), None)
    yield c
    c.close()


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    from vidpipe.ffmpeg import samples

    return samples.make_video(tmp_path_factory.mktemp("clips") / "c.mp4", seconds=1, width=160, height=120).read_bytes()


# --- roles ------------------------------------------------------------------------------------------------------
def test_a_read_key_cannot_change_anything(client, keys, runtime, clip):
    [aid] = _insert_assets(runtime, [{}])
    read, ingest, admin = _as(keys["read"]), _as(keys["ingest"]), _as(keys["admin"])
    for method, url, kw in (
        ("GET", "/v1/assets", {}), ("GET", f"/v1/assets/{aid}", {}), ("GET", f"/v1/assets/{aid}/events", {}),
        ("GET", f"/v1/assets/{aid}/playback", {}), ("GET", "/v1/profiles", {}), ("GET", "/v1/stats", {}),
        ("GET", "/v1/popular", {}),
    ):
        assert client.request(method, url, headers=read, **kw).status_code == 200, url
    refused = [
        ("POST", "/v1/assets", {"json": {"url": "http://example.invalid/a.mp4"}}),
        ("POST", "/v1/uploads", {"json": {"filename": "a.mp4", "size": 10}}),
        ("PATCH", f"/v1/assets/{aid}", {"json": {"title": "defaced"}}),
        ("DELETE", f"/v1/assets/{aid}", {}),
        ("POST", f"/v1/assets/{aid}/reprocess", {}),
        ("POST", "/v1/reprocess", {"json": {"stage": "probe"}}),
        ("GET", "/v1/jobs", {}), ("GET", "/v1/jobs/1", {}), ("POST", "/v1/jobs/1/retry", {}),
        ("PUT", "/v1/profiles/mine", {"json": {"ladder": [{"height": 240, "video_kbps": 300}]}}),
        ("DELETE", "/v1/profiles/mine", {}),
    ]
    for method, url, kw in refused:
        r = client.request(method, url, headers=read, **kw)
        assert r.status_code == 403, (method, url, r.text)
        assert r.json()["error"]["code"] == "forbidden" and "read" in r.json()["error"]["message"]
    # ingest may create, not edit or delete
    created = client.post("/v1/assets", headers=ingest, files={"file": ("c.mp4", clip, "video/mp4")})
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    assert client.post("/v1/uploads", headers=ingest, json={"filename": "a.mp4", "size": 10}).status_code == 201
    for method, url, kw in refused[2:]:
        assert client.request(method, url, headers=ingest, **kw).status_code == 403, (method, url)
    with runtime.db.session() as s:
        assert s.get(Asset, aid).title == "asset 0"  # nothing changed
    assert client.request("DELETE", f"/v1/assets/{new_id}", headers=admin).status_code == 204
    assert client.request("PATCH", f"/v1/assets/{aid}", headers=admin, json={"title": "ok"}).status_code == 200


def test_a_browser_session_has_its_keys_role(client, keys, runtime):
    [aid] = _insert_assets(runtime, [{}])
    r = client.post("/session", json={"api_key": keys["read"]}, headers=ORIGIN)
    assert r.status_code == 200 and r.json()["role"] == "read"
    csrf = r.json()["csrf_token"]
    client.client.cookies.set(COOKIE, r.cookies[COOKIE])
    assert client.get(f"/v1/assets/{aid}").status_code == 200
    r = client.request("DELETE", f"/v1/assets/{aid}", headers={"X-CSRF-Token": csrf, **ORIGIN})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_role_changes_and_unknown_roles(runtime):
    with runtime.db.session() as s, s.begin():
        with pytest.raises(Exception, match="unknown role"):
            apikeys.create_key(s, "x", role="root")
        secret = apikeys.create_key(s, "player", role="read").secret
        assert apikeys.verify(s, secret) == apikeys.KeyIdentity("player", "read")
        assert apikeys.set_role(s, "player", "ingest")
        assert apikeys.verify(s, secret).role == "ingest"
    assert not apikeys.allows("bogus", "read") and apikeys.allows("admin", "ingest")


# --- signed playback --------------------------------------------------------------------------------------------
def _store(runtime, aid: uuid.UUID, files: dict[str, tuple[str, bytes, str]]) -> None:
    """Write files into the media store with their artifact rows: key -> (kind, bytes, content type)."""
    with runtime.db.session() as s, s.begin():
        for rest, (kind, data, ctype) in files.items():
            path = runtime.settings.scratch_root / uuid.uuid4().hex
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            runtime.media_store.put_file(f"{aid}/{rest}", path)
            if kind != "original":
                s.add(Artifact(asset_id=aid, stage="x", kind=kind, key=f"{aid}/{rest}", content_type=ctype,
                               size_bytes=len(data)))


MASTER = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=160x120\n120p/index.m3u8\n"
VARIANT = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nseg_00001.ts\n#EXT-X-ENDLIST\n"
SEGMENT = bytes(range(256)) * 8


def test_players_get_signed_urls_and_need_no_key(client, keys, runtime, caplog):
    [aid, other] = _insert_assets(runtime, [{}, {}])
    _store(runtime, aid, {"hls/master.m3u8": ("hls_master", MASTER, "application/vnd.apple.mpegurl"),
                          "hls/120p/index.m3u8": ("hls_playlist", VARIANT, "application/vnd.apple.mpegurl"),
                          "hls/120p/seg_00001.ts": ("hls_segment", SEGMENT, "video/mp2t"),
                          "thumbs/poster.jpg": ("poster", b"\xff\xd8poster", "image/jpeg"),
                          "original": ("original", b"the original bytes", "video/mp4")})
    body = client.get(f"/v1/assets/{aid}", headers=_as(keys["read"]))
    assert body.status_code == 200
    playback = body.json()["playback"]
    assert keys["read"] not in body.text and "api_key" not in body.text
    master_url = playback["playback_url"]
    assert urlsplit(master_url).path.startswith("/v1/play/") and "?" not in master_url
    assert playback["expires_at"] and playback["sprite_vtt_url"] is None

    master = client.get(master_url)  # no key, no cookie
    assert master.status_code == 200 and master.content == MASTER  # the stored playlist, not rewritten
    assert master.headers["access-control-allow-origin"] == "*"
    variant_url = urljoin(master_url, "120p/index.m3u8")  # what hls.js does with the relative URI
    assert client.get(variant_url).content == VARIANT
    part = client.get(urljoin(variant_url, "seg_00001.ts"), headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == SEGMENT[:10]
    assert client.get(playback["poster_url"]).content == b"\xff\xd8poster"
    assert client.get(playback["download_url"]).content == b"the original bytes"

    token = urlsplit(master_url).path.split("/")[3]
    for url, code in ((f"/v1/play/{token}/{aid}/original", "invalid_signature"),  # hls/ does not cover it
                      (f"/v1/play/{token}/{other}/hls/master.m3u8", "invalid_signature"),  # another asset
                      (f"/v1/play/{token[:-2]}xx/{aid}/hls/master.m3u8", "invalid_signature"),
                      (f"/v1/play/{'9' * 40}.aGxzLw.{token.split('.')[2]}/{aid}/hls/master.m3u8",
                       "invalid_signature")):
        r = client.get(url)
        assert r.status_code == 403 and r.json()["error"]["code"] == code, (url[:80], r.text)

    links = client.get(f"/v1/assets/{aid}/playback", params={"ttl_seconds": 60}, headers=_as(keys["read"]))
    assert links.status_code == 200 and links.headers["cache-control"] == "no-store"
    assert client.get(links.json()["playback_url"]).content == MASTER
    assert client.get(f"/v1/assets/{aid}/playback").status_code == 401
    assert client.get(f"/v1/assets/{uuid.uuid4()}/playback", headers=_as(keys["read"])).status_code == 404
    assert keys["read"] not in caplog.text


def test_expired_playback_urls_are_refused(client, keys, runtime, monkeypatch):
    [aid] = _insert_assets(runtime, [{}])
    _store(runtime, aid, {"hls/master.m3u8": ("hls_master", MASTER, "application/vnd.apple.mpegurl")})
    url = client.get(f"/v1/assets/{aid}/playback", headers=_as(keys["read"])).json()["playback_url"]
    assert client.get(url).status_code == 200
    signer = runtime.playback
    monkeypatch.setattr(signer, "_clock", lambda: 10**10)
    r = client.get(url)
    assert r.status_code == 403 and r.json()["error"]["code"] == "url_expired"


def test_media_with_a_header_key_still_works_for_api_clients(client, keys, runtime):
    [aid] = _insert_assets(runtime, [{}])
    _store(runtime, aid, {"hls/master.m3u8": ("hls_master", MASTER, "application/vnd.apple.mpegurl")})
    url = f"/v1/media/{aid}/hls/master.m3u8"
    assert client.get(url, headers=_as(keys["read"])).content == MASTER
    assert client.get(url, params={"api_key": keys["read"]}).status_code == 401
    with runtime.db.session() as s:
        assert s.scalar(select(Asset.id).where(Asset.id == aid)) == aid


# --- request size limits ----------------------------------------------------------------------------------------
class Counting:
    """A chunked request body of `total` bytes that counts how much of it the server pulled."""

    def __init__(self, total: int, piece: bytes = b"x" * 65536) -> None:
        self.total, self.piece, self.pulled = total, piece, 0

    async def __aiter__(self):
        while self.pulled < self.total:
            self.pulled += len(self.piece)
            yield self.piece


@pytest.mark.parametrize(("method", "url", "ctype", "limit"), [
    ("POST", "/session", "application/json", 16 * 1024),
    ("POST", "/session", "application/x-www-form-urlencoded", 16 * 1024),
    ("PATCH", "/v1/assets/{aid}", "application/json", 1024 * 1024),
    ("PUT", "/v1/profiles/big", "application/json", 1024 * 1024),
    ("POST", "/v1/uploads", "application/json", 1024 * 1024),
])
def test_chunked_bodies_are_cut_off_at_the_routes_limit(client, keys, runtime, method, url, ctype, limit):
    [aid] = _insert_assets(runtime, [{}])
    body = Counting(64 * 1024 * 1024)
    r = client.request(method, url.format(aid=aid), content=body,
                       headers={**_as(keys["admin"]), **ORIGIN, "Content-Type": ctype})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "limit_exceeded"
    assert body.pulled <= limit + 2 * len(body.piece), f"{body.pulled} bytes were read"


def test_a_declared_length_over_the_limit_is_refused_before_reading(client, keys):
    body = Counting(2 * 1024 * 1024)
    r = client.request("PUT", "/v1/profiles/big", content=body,
                       headers={**_as(keys["admin"]), "Content-Type": "application/json",
                                "Content-Length": str(2 * 1024 * 1024)})
    assert r.status_code == 413 and body.pulled <= len(body.piece)


def test_uploads_keep_their_own_larger_limit(client, keys, runtime, clip):
    runtime.settings.max_body_bytes = 16 * 1024  # far below the clip: uploads are measured by the upload limit
    r = client.post("/v1/assets", headers=_as(keys["ingest"]), files={"file": ("c.mp4", clip, "video/mp4")})
    assert r.status_code == 201, r.text
    assert len(clip) > 16 * 1024


# --- hostile input: 4xx, never 500 ------------------------------------------------------------------------------
def _cursor(value: object) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_hostile_input_is_answered_with_4xx(client, keys, runtime, caplog):
    [aid] = _insert_assets(runtime, [{}])
    _store(runtime, aid, {"hls/master.m3u8": ("hls_master", MASTER, "application/vnd.apple.mpegurl")})
    admin = _as(keys["admin"])
    cases = [
        # NUL characters (PostgreSQL text cannot hold them)
        ("GET", "/v1/assets", {"params": {"q": "a\x00b"}}),
        ("GET", "/v1/assets", {"params": {"codec": "h\x00"}}),
        ("GET", "/v1/jobs", {"params": {"stage": "pro\x00be"}}),
        ("GET", "/v1/search", {"params": {"q": "\x00"}}),
        ("GET", "/v1/profiles/a%00b", {}),
        ("PUT", "/v1/profiles/a%00b", {"json": {"ladder": [{"height": 240, "video_kbps": 300}]}}),
        ("PATCH", f"/v1/assets/{aid}", {"json": {"title": "a\x00b"}}),
        ("PATCH", f"/v1/assets/{aid}", {"json": {"tags": ["x\x00"]}}),
        ("PATCH", f"/v1/assets/{aid}", {"json": {"description": "\x00"}}),
        ("POST", "/v1/assets", {"json": {"path": "/tmp/\x00x"}}),
        ("POST", "/v1/assets", {"json": {"url": "http://x/\x00", "title": "\x00"}}),
        ("POST", "/v1/assets", {"files": {"file": ("a.mp4", b"abc", "video/mp4")}, "data": {"title": "a\x00"}}),
        ("POST", "/v1/uploads", {"json": {"filename": "a\x00.mp4", "size": 3}}),
        ("POST", "/v1/uploads", {"json": {"filename": "a.mp4", "size": 3, "profile": "\x00"}}),
        ("PUT", "/v1/profiles/mine", {"json": {"ladder": [{"height": 240, "video_kbps": 300}],
                                               "zero_shot_labels": ["a\x00"]}}),
        ("POST", "/v1/reprocess", {"json": {"stage": "pro\x00be"}}),
        ("GET", f"/v1/media/{aid}/hls/master%00.m3u8", {}),
        # integers beyond the columns
        ("GET", "/v1/assets", {"params": {"min_height": 2147483648}}),
        ("GET", "/v1/search", {"params": {"q": "x", "min_height": 2**31}}),
        ("GET", "/v1/jobs/9223372036854775808", {}),
        ("POST", "/v1/jobs/99999999999999999999999/retry", {}),
        ("POST", "/v1/uploads", {"json": {"filename": "a.mp4", "size": 2**64}}),
        ("POST", "/v1/uploads", {"json": {"filename": "a.mp4", "size": 3, "priority": True}}),
        # tampered cursors
        ("GET", "/v1/jobs", {"params": {"cursor": _cursor([True])}}),
        ("GET", "/v1/jobs", {"params": {"cursor": _cursor([2**70])}}),
        ("GET", "/v1/jobs", {"params": {"cursor": _cursor([-1.5])}}),
        ("GET", f"/v1/assets/{aid}/events", {"params": {"cursor": _cursor([True])}}),
        ("GET", f"/v1/assets/{aid}/events", {"params": {"cursor": _cursor(["1"])}}),
        ("GET", "/v1/assets", {"params": {"cursor": _cursor([1, 2])}}),
        ("GET", "/v1/assets", {"params": {"cursor": _cursor([None, None])}}),
        ("GET", "/v1/assets?cursor=%FF%FE", {}),
    ]
    for method, url, kw in cases:
        r = client.request(method, url, headers=admin, **kw)
        assert 400 <= r.status_code < 500, (method, url, kw, r.status_code, r.text)
        assert r.json()["error"]["code"], (method, url)
    assert not [rec for rec in caplog.records if rec.message == "api.unhandled"]


def test_an_absurd_range_header_is_not_a_500(client, keys, runtime):
    [aid] = _insert_assets(runtime, [{}])
    _store(runtime, aid, {"hls/master.m3u8": ("hls_master", MASTER, "application/vnd.apple.mpegurl")})
    url, read = f"/v1/media/{aid}/hls/master.m3u8", _as(keys["read"])
    huge = "9" * 4300
    r = client.get(url, headers={**read, "Range": f"bytes={huge}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(MASTER)}"
    r = client.get(url, headers={**read, "Range": f"bytes=0-{huge}"})
    assert r.status_code == 206 and r.content == MASTER
    r = client.get(url, headers={**read, "Range": f"bytes=-{huge}"})
    assert r.status_code == 206 and r.content == MASTER


def test_405_names_every_method_of_the_path(client, keys, runtime):
    [aid] = _insert_assets(runtime, [{}])
    r = client.request("OPTIONS", f"/v1/assets/{aid}", headers=_as(keys["admin"]))
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    r = client.request("PUT", "/session")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "POST", "DELETE"}


def test_the_openapi_document_says_what_routes_answer(client):
    doc = client.get("/openapi.json").json()
    delete = doc["paths"]["/v1/assets/{asset_id}"]["delete"]["responses"]
    assert {"401", "403", "404", "413", "422", "429"} <= set(delete)
    params = {p["name"]: p["schema"] for p in doc["paths"]["/v1/assets"]["get"]["parameters"]}
    assert params["min_height"]["anyOf"][0]["maximum"] == 2**31 - 1
    assert params["q"]["anyOf"][0]["pattern"] == "^[^\\u0000]*$"
    assert "api_key" not in {p["name"] for p in doc["paths"]["/v1/media/{key}"]["get"].get("parameters", [])}
    size = doc["components"]["schemas"]["UploadCreate"]["properties"]["size"]
    assert size["maximum"] == 20 * 1024**3


def test_keys_cli_creates_scoped_keys(runtime, settings, monkeypatch):
    from typer.testing import CliRunner

    from vidpipe.cli.main import app

    monkeypatch.setenv("VIDPIPE_DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("VIDPIPE_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["keys", "create", "player", "--role", "read"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    with runtime.db.session() as s:
        assert apikeys.verify(s, secret) == apikeys.KeyIdentity("player", "read")
    bad = CliRunner().invoke(app, ["keys", "create", "root", "--role", "root"])
    assert bad.exit_code != 0 and "unknown role" in bad.output
    listed = CliRunner().invoke(app, ["keys", "list"])
    assert "player" in listed.stdout and "read" in listed.stdout and secret not in listed.stdout
