"""Browser sessions: sign in with an API key, an HttpOnly cookie, CSRF on every state change, sign out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from tests.integration.test_api import Api
from vidpipe.api.sessions import COOKIE
from vidpipe.db import apikeys
from vidpipe.db.models.web import WebSession
from vidpipe.server import create_app

ORIGIN = {"Origin": "http://api.test"}


@pytest.fixture
def web(runtime) -> Iterator[tuple[Api, str]]:
    with runtime.db.session() as s, s.begin():
        s.execute(text("TRUNCATE web_sessions, processing_profiles, upload_sessions"))
        key = apikeys.create_key(s, "browser").secret
    client = Api(create_app(runtime), None)  # no API key header: the cookie is the credential
    yield client, key
    client.close()


def _sign_in(api: Api, key: str) -> str:
    r = api.post("/session", json={"api_key": key}, headers=ORIGIN)
    assert r.status_code == 200, r.text
    return r.json()["csrf_token"]


def test_sign_in_sets_an_httponly_lax_cookie_and_stores_only_a_hash(web, runtime):
    api, key = web
    assert api.post("/session", json={"api_key": "vp_wrong"}).json()["error"]["code"] == "unauthorized"
    r = api.post("/session", json={"api_key": key}, headers=ORIGIN)
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie and "Path=/" in cookie  # plain http without cookie_secure
    session_id = api.client.cookies[COOKIE]
    with runtime.db.session() as s:
        rows = s.scalars(select(WebSession)).all()
    assert len(rows) == 1 and rows[0].key_name == "browser" and session_id not in (rows[0].id_hash, rows[0].csrf_token)
    assert rows[0].expires_at - datetime.now(UTC) > timedelta(hours=11.9)
    me = api.get("/session").json()
    assert me["key_name"] == "browser" and me["csrf_token"] == r.json()["csrf_token"]


def test_secure_cookie_over_https_or_when_configured(web, runtime):
    api, key = web
    r = api.post("https://api.test/session", json={"api_key": key}, headers={"Origin": "https://api.test"})
    assert "Secure" in r.headers["set-cookie"]
    runtime.settings.cookie_secure = True
    assert "Secure" in api.post("/session", json={"api_key": key}, headers=ORIGIN).headers["set-cookie"]


def test_form_sign_in_redirects_to_a_local_next_only(web):
    api, key = web
    r = api.post("/session", data={"api_key": key, "next": "/jobs?x=1"}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["location"] == "/jobs?x=1" and COOKIE in r.headers["set-cookie"]
    r = api.post("/session", data={"api_key": key, "next": "//evil.example/"}, headers=ORIGIN)
    assert r.headers["location"] == "/"
    r = api.post("/session", data={"api_key": "nope", "next": "/jobs"}, headers=ORIGIN)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?error=")
    assert "next=%2Fjobs" in r.headers["location"]


def test_cross_site_sign_in_is_refused(web):
    api, key = web
    r = api.post("/session", data={"api_key": key}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = api.post("/session", data={"api_key": key}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403


def test_the_cookie_opens_v1_and_state_changes_need_csrf_and_same_origin(web, runtime):
    api, key = web
    assert api.get("/v1/assets").status_code == 401
    csrf = _sign_in(api, key)
    assert api.get("/v1/assets").status_code == 200
    assert api.get("/v1/stats").status_code == 200
    body = {"filename": "a.mp4", "size": 10}
    refused = [
        api.post("/v1/uploads", json=body, headers=ORIGIN),  # no token
        api.post("/v1/uploads", json=body, headers={**ORIGIN, "X-CSRF-Token": "wrong"}),
        api.post("/v1/uploads", json=body, headers={"X-CSRF-Token": csrf}),  # no Origin / Sec-Fetch-Site
        api.post("/v1/uploads", json=body, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}),
        api.post("/v1/uploads", json=body, headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}),
        api.request("PUT", "/v1/profiles/p1", json={"ladder": [{"height": 240, "video_kbps": 300}]},
                    headers={"X-CSRF-Token": csrf, "Origin": "null"}),
        api.request("DELETE", "/v1/profiles/p1", headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-site"}),
    ]
    for r in refused:
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed", r.text
    ok = api.post("/v1/uploads", json=body, headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert ok.status_code == 201, ok.text
    ok = api.post("/v1/uploads", json=body, headers={"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 201, ok.text
    # An API key needs no CSRF token (a header cannot be forged cross-site), cookie or not.
    with runtime.db.session() as s, s.begin():
        other = apikeys.create_key(s, "script").secret
    r = api.post("/v1/uploads", json=body, headers={"Authorization": f"Bearer {other}"})
    assert r.status_code == 201


def test_sign_out_needs_csrf_and_ends_the_session(web):
    api, key = web
    csrf = _sign_in(api, key)
    cookie = api.client.cookies[COOKIE]
    assert api.request("DELETE", "/session", headers=ORIGIN).status_code == 403
    r = api.request("DELETE", "/session", headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert r.status_code == 204 and f"{COOKIE}=" in r.headers["set-cookie"]
    api.client.cookies.set(COOKIE, cookie)  # a copied cookie is worthless now
    assert api.get("/session").status_code == 401
    assert api.get("/v1/assets").json()["error"]["code"] == "unauthorized"
    api.client.cookies.clear()
    csrf = _sign_in(api, key)
    assert api.post("/session/logout", headers={**ORIGIN, "X-CSRF-Token": csrf}).status_code == 204
    assert api.get("/session").status_code == 401


def test_expired_sessions_and_revoked_keys_end_sessions(web, runtime):
    api, key = web
    _sign_in(api, key)
    with runtime.db.session() as s, s.begin():
        s.execute(update(WebSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert api.get("/session").status_code == 401
    _sign_in(api, key)
    assert api.get("/session").status_code == 200
    with runtime.db.session() as s, s.begin():
        apikeys.revoke_key(s, "browser")
    assert api.get("/session").status_code == 401
    assert api.get("/v1/assets").status_code == 401


def test_the_cookie_reads_an_asset_and_its_media_and_uploads_with_csrf(web):
    api, key = web
    csrf = _sign_in(api, key)
    files = {"file": ("c.mp4", b"not really a video" * 10, "video/mp4")}
    assert api.post("/v1/assets", files=files, headers=ORIGIN).status_code == 403
    r = api.post("/v1/assets", files=files, headers={**ORIGIN, "X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    asset = r.json()
    assert api.get(f"/v1/assets/{asset['id']}").json()["id"] == asset["id"]  # the cached read path
    media = api.get(asset["original_url"])
    assert media.status_code == 200 and media.content == b"not really a video" * 10
