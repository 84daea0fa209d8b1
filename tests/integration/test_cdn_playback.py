"""HLS through CloudFront, played the way hls.js plays it: a real asset (alternate audio, subtitles, sprites)
processed into the S3 emulator under `media/`, the real API with the CloudFront signer, and a stand-in for the
distribution: `media/*` checks the signed URL as CloudFront does (key pair id, RSA-SHA1 signature over the
policy with the public key, the policy's resource wildcard and expiry) and then reads S3; every other path goes
to the API (the VPC origin). Every URI of every playlist is followed with relative resolution."""

from __future__ import annotations

import html
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from tests.aws_emulator import Emulator, aws_emulator_fixture, s3_bucket_fixture  # noqa: F401 - fixtures
from tests.cdn_standin import Distribution, play
from tests.integration.test_api import Api
from tests.signing_fixtures import private_pem, rsa_key
from vidpipe.db import apikeys
from vidpipe.db.models import Artifact, Asset
from vidpipe.ffmpeg import samples
from vidpipe.ffmpeg.process import ffmpeg_exe
from vidpipe.ingest.service import IngestRequest, ingest_path
from vidpipe.jobs.worker import Worker
from vidpipe.server import create_app

DOMAIN = "d1test.cloudfront.net"
KEY_PAIR_ID = "K2TESTPLAYBACK"


def _key_of_media_url(url: str) -> str:
    return urlsplit(url).path.removeprefix("/media/")


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> Path:
    """Two audio languages and an English subtitle track: the master gets EXT-X-MEDIA audio and subtitles."""
    d = tmp_path_factory.mktemp("cdn-film")
    clip = samples.make_video(d / "clip.mp4", width=480, height=270, seconds=3, audio_languages=("eng", "spa"))
    subs = d / "subs.srt"
    subs.write_text("1\n00:00:00,200 --> 00:00:01,500\nHello\n\n2\n00:00:01,600 --> 00:00:02,800\nAgain\n")
    out = d / "film.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(clip), "-i", str(subs), "-map", "0", "-map", "1",
                    "-c", "copy", "-c:s", "srt", "-metadata:s:s:0", "language=eng", str(out)], check=True)
    return out


@pytest.fixture
def private_key() -> rsa.RSAPrivateKey:
    return rsa_key()


@pytest.fixture
def cdn_runtime(settings, aws_emulator: Emulator, s3_bucket: str, private_key) -> Iterator:  # noqa: F811
    from vidpipe.runtime import Runtime

    pem = private_pem(private_key).decode()
    cloud = settings.updated(
        media_store="s3", s3_bucket=s3_bucket, s3_prefix="media/", aws_region=aws_emulator.region,
        aws_endpoint_url=aws_emulator.endpoint_url, playback_signer="cloudfront", cloudfront_domain=DOMAIN,
        cloudfront_key_pair_id=KEY_PAIR_ID, cloudfront_private_key=pem, playback_url_ttl_seconds=3600,
    )
    rt = Runtime.from_settings(cloud, pool_size=5)
    yield rt
    rt.close()


def _process(rt, source: Path) -> uuid.UUID:
    asset_id = ingest_path(rt, source, IngestRequest(source_kind="path", profile="preview"),
                           roots=[source.parent]).asset.id
    worker = Worker(rt, concurrency=2)
    worker.start()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            with rt.db.session() as s:
                asset = s.get(Asset, asset_id)
                if asset.status in ("ready", "failed"):
                    assert asset.status == "ready", asset.error_message
                    return asset_id
            time.sleep(0.3)
        raise AssertionError("the asset was not processed in 240 s")
    finally:
        worker.request_stop()
        worker.join(timeout=30)


def test_a_whole_hls_tree_plays_through_cloudfront_with_segments_straight_from_s3(
    cdn_runtime, aws_emulator, s3_bucket, private_key, film, caplog, monkeypatch  # noqa: F811 - fixtures
):
    rt = cdn_runtime
    asset_id = _process(rt, film)
    other_id = _process(rt, film.with_name("clip.mp4"))
    with rt.db.session() as s, s.begin():
        key = apikeys.create_key(s, "reader", role="read").secret
        hls_keys = set(s.scalars(select(Artifact.key).where(Artifact.asset_id == asset_id,
                                                            Artifact.key.like(f"{asset_id}/hls/%"))))  # fmt: skip
    api = Api(create_app(rt), None)
    try:
        cdn = Distribution(api, aws_emulator.client("s3"), s3_bucket, private_key.public_key(), DOMAIN, KEY_PAIR_ID)
        body = api.get(f"/v1/assets/{asset_id}", headers={"Authorization": f"Bearer {key}"})
        assert body.status_code == 200, body.text
        playback = body.json()["playback"]
        master_url = playback["playback_url"]
        assert master_url.startswith(f"https://{DOMAIN}/v1/play/") and master_url.endswith("/hls/master.m3u8")

        playlists, files = play(cdn, master_url)
        master = playlists[master_url]
        assert "TYPE=AUDIO" in master and "TYPE=SUBTITLES" in master and "#EXT-X-STREAM-INF" in master
        # Every HLS file the pipeline stored was reached, and the bytes are the stored ones.
        fetched = {_key_of_media_url(u) for u in files} | {"/".join(urlsplit(u).path.split("/")[4:])
                                                            for u in playlists}  # fmt: skip
        assert fetched == hls_keys, sorted(hls_keys ^ fetched)[:6]
        s3 = aws_emulator.client("s3")
        for url, data in files.items():
            assert data == s3.get_object(Bucket=s3_bucket, Key=f"media/{_key_of_media_url(url)}")["Body"].read()
        # Only the playlists passed the API; every other file came from the media behaviour (S3).
        assert len(cdn.api_paths) == len(playlists) and all(p.endswith(".m3u8") for p in cdn.api_paths)
        assert len(cdn.media_paths) == len(files) > len(playlists)
        # One signature for the whole grant: every file URL carries the same query string.
        assert len({urlsplit(u).query for u in files}) == 1
        assert any(u.endswith(".vtt") for u in map(lambda x: urlsplit(x).path, files))  # subtitles included
        # Playlists are gzipped for players that accept it (the signature repeats), and revalidate by ETag.
        longest = max(playlists, key=lambda u: len(playlists[u]))
        assert len(playlists[longest]) > 1400  # two signed segment URLs are enough to be worth compressing
        zipped = api.get(urlsplit(longest).path, auth=False, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip" and zipped.text == playlists[longest]
        assert int(zipped.headers["content-length"]) < len(playlists[longest]) / 2
        again = api.get(urlsplit(longest).path, auth=False, headers={"Accept-Encoding": "gzip",
                                                                     "If-None-Match": zipped.headers["etag"]})
        assert again.status_code == 304

        # The scrub-preview track and the sheets it names; the poster and the original by redirect.
        track = cdn.get(playback["sprite_vtt_url"])
        assert track.status_code == 200 and track.text.startswith("WEBVTT")
        sheets = {line.split("#")[0] for line in track.text.splitlines() if "#xywh=" in line}
        assert sheets and all(s.startswith(f"https://{DOMAIN}/media/{asset_id}/thumbs/") for s in sheets)
        for sheet in sheets:
            assert cdn.get(sheet).content[:2] == b"\xff\xd8"
        redirect = api.get(urlsplit(playback["poster_url"]).path, auth=False)
        assert redirect.status_code == 302 and redirect.headers["location"].startswith(f"https://{DOMAIN}/media/")
        assert cdn.get(playback["poster_url"]).content[:2] == b"\xff\xd8"
        assert cdn.get(playback["download_url"]).content == film.read_bytes()

        # Refused: past the expiry, another asset's files, another prefix, an altered policy, no signature.
        segment = next(u for u in files if urlsplit(u).path.endswith(".ts"))
        cdn.now += 2 * 3600
        assert cdn.get(segment).status_code == 403
        cdn.now = time.time()
        other_keys = [k for k in s3.list_objects_v2(Bucket=s3_bucket, Prefix=f"media/{other_id}/hls/")["Contents"]]
        stolen = segment.replace(f"/media/{asset_id}/", f"/media/{other_id}/")
        assert any(o["Key"] == urlsplit(stolen).path[1:] for o in other_keys)  # the file exists; the URL is refused
        assert cdn.get(stolen).status_code == 403
        assert cdn.get(segment.replace("/hls/", "/thumbs/", 1)).status_code == 403
        policy = parse_qs(urlsplit(segment).query)["Policy"][0]
        assert cdn.get(segment.replace(policy, policy[:-4] + "AAAA")).status_code == 403
        assert cdn.get(segment.split("?")[0]).status_code == 403
        token = urlsplit(master_url).path.split("/")[3]
        refused = api.get(f"/v1/play/{token}/{other_id}/hls/master.m3u8", auth=False)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "invalid_signature"
        monkeypatch.setattr(rt.playback, "_clock", lambda: time.time() + 2 * 3600)
        expired = api.get(urlsplit(master_url).path, auth=False)
        assert expired.status_code == 403 and expired.json()["error"]["code"] == "url_expired"

        # The console (served through the distribution in AWS) shares and embeds at the distribution too.
        monkeypatch.undo()
        assert api.post("/session", json={"api_key": key}, headers={"Origin": "http://api.test"}).status_code == 200
        page = api.get(f"/assets/{asset_id}").text
        snippet_src = html.unescape(page).split(f'src="https://{DOMAIN}/embed/{asset_id}?play=', 1)[1].split('"')[0]
        embed = api.get(f"/embed/{asset_id}?play={snippet_src}", auth=False).text  # the link's grant, no key
        assert f'poster="https://{DOMAIN}/v1/play/' in embed and "/v1/media/" not in embed
        assert f'data-src="https://{DOMAIN}/v1/play/{snippet_src}/{asset_id}/hls/master.m3u8"' in embed

        # No API key in any media URL, playlist or log line.
        everything = "\n".join([*playlists, *playlists.values(), *files, track.text, caplog.text])
        assert key not in everything and "api_key" not in everything and "BEGIN PRIVATE KEY" not in caplog.text
    finally:
        api.close()
