"""Signed playback URLs: the local HMAC signer (token in the path) and the CloudFront signer (custom policy over a
wildcard resource, RSA), checked with a freshly generated key pair."""

from __future__ import annotations

import base64
import json
import stat
import uuid
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.signing_fixtures import Clock, private_pem, rsa_key
from vidpipe.errors import ForbiddenError
from vidpipe.playback.signing import (
    KEY_FILE,
    CloudFrontSigner,
    LocalSigner,
    local_signing_key,
    signer_from_settings,
    url_for,
)
from vidpipe.settings import Settings

ASSET = uuid.UUID("0b7a3c9e-2f51-4d8e-9a61-3f2c1d0e5b47")
NOW = 1_800_000_000.0


def _token_and_key(url: str) -> tuple[str, str]:
    parts = urlsplit(url).path.split("/")  # '', 'v1', 'play', token, asset, ...
    assert parts[1:3] == ["v1", "play"], url
    return parts[3], "/".join(parts[4:])


def test_local_grant_covers_the_prefix_and_relative_uris_inherit_it():
    clock = Clock(NOW)
    signer = LocalSigner(b"k" * 32, base_url="https://media.example/", ttl_seconds=3600, clock=clock)
    master = url_for(signer.sign(ASSET, "hls/"), "master.m3u8")
    assert master.startswith("https://media.example/v1/play/") and master.endswith(f"/{ASSET}/hls/master.m3u8")
    assert "?" not in master and "vp_" not in master  # no query string, no API key
    # What a player does with the relative URIs inside the playlists: resolve against the playlist's URL.
    variant = urljoin(master, "720p/index.m3u8")
    segment = urljoin(variant, "seg_00001.ts")
    for url in (master, variant, segment):
        token, key = _token_and_key(url)
        grant = signer.verify(token, key)
        assert grant.asset_id == str(ASSET) and grant.path_prefix == "hls/"
        assert NOW + 3600 <= grant.expires <= NOW + 3600 + 600  # rounded up to a step of ttl/6
    token, _ = _token_and_key(master)
    for key in (f"{ASSET}/original", f"{ASSET}/thumbs/poster.jpg", f"{uuid.uuid4()}/hls/master.m3u8"):
        with pytest.raises(ForbiddenError) as err:
            signer.verify(token, key)
        assert err.value.code == "invalid_signature" and err.value.http_status == 403


def test_local_urls_expire_and_are_stable_within_a_step():
    clock = Clock(NOW + 1)  # just past a step boundary
    signer = LocalSigner(b"k" * 32, ttl_seconds=600, clock=clock)
    first = signer.sign(ASSET, "thumbs/")
    clock.now += 30
    assert signer.sign(ASSET, "thumbs/") == first  # same step: same URL (ETags and browser caches hold)
    token, _ = _token_and_key(url_for(first, "poster.jpg"))
    signer.verify(token, f"{ASSET}/thumbs/poster.jpg")
    clock.now += 600 + 100 + 1
    with pytest.raises(ForbiddenError) as err:
        signer.verify(token, f"{ASSET}/thumbs/poster.jpg")
    assert err.value.code == "url_expired"


@pytest.mark.parametrize("mutate", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
    lambda t: str(int(t.split(".")[0]) + 3600) + t[t.index("."):],  # expiry extended
    lambda t: t.split(".")[0] + "." + base64.urlsafe_b64encode(b"").decode() + "." + t.split(".")[2],  # widened
    lambda t: "9" * 4300 + t[t.index("."):],  # an absurd number
    lambda t: "",
    lambda t: "not-a-token",
])
def test_local_tampered_tokens_are_refused(mutate):
    signer = LocalSigner(b"k" * 32, clock=Clock(NOW))
    token, key = _token_and_key(url_for(signer.sign(ASSET, "hls/"), "master.m3u8"))
    with pytest.raises(ForbiddenError):
        signer.verify(mutate(token), key)
    other = LocalSigner(b"o" * 32, clock=Clock(NOW))  # another server's key
    with pytest.raises(ForbiddenError):
        other.verify(token, key)


def test_the_whole_file_grant_covers_only_that_file():
    signer = LocalSigner(b"k" * 32, clock=Clock(NOW))
    token, key = _token_and_key(signer.sign(ASSET, "original"))
    assert key == f"{ASSET}/original"
    signer.verify(token, key)
    with pytest.raises(ForbiddenError):
        signer.verify(token, f"{ASSET}/hls/master.m3u8")


def _cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def _rsa_pem() -> tuple[rsa.RSAPrivateKey, bytes]:
    private = rsa_key()
    return private, private_pem(private)


def test_cloudfront_route_urls_are_rooted_at_the_distribution_and_grant_like_local_ones():
    _, pem = _rsa_pem()
    clock = Clock(NOW)
    signer = CloudFrontSigner("d111.cloudfront.net", "K2JCJMDEHXQW5F", pem, key_prefix="media", ttl_seconds=3600,
                              clock=clock)
    master = url_for(signer.sign(ASSET, "hls/"), "master.m3u8")
    assert master.startswith("https://d111.cloudfront.net/v1/play/") and "?" not in master
    token, key = _token_and_key(master)
    grant = signer.verify(token, key)
    assert (grant.asset_id, grant.path_prefix) == (str(ASSET), "hls/")
    # Every API task derives the same route key from the one CloudFront private key (the secret they share).
    twin = CloudFrontSigner("d111.cloudfront.net", "K2JCJMDEHXQW5F", pem, key_prefix="media", clock=clock)
    assert twin.verify(token, key) == grant
    _, other_pem = _rsa_pem()
    with pytest.raises(ForbiddenError):
        CloudFrontSigner("d111.cloudfront.net", "K2", other_pem, clock=clock).verify(token, key)
    explicit = CloudFrontSigner("d111.cloudfront.net", "K2", pem, route_key=b"r" * 32, clock=clock)
    with pytest.raises(ForbiddenError):  # an explicit VIDPIPE_PLAYBACK_SIGNING_KEY replaces the derived one
        explicit.verify(token, key)


def test_cloudfront_media_urls_verify_with_the_public_key_and_cover_only_the_grant():
    private, pem = _rsa_pem()
    signer = CloudFrontSigner("d111.cloudfront.net", "K2JCJMDEHXQW5F", pem, key_prefix="media", ttl_seconds=3600,
                              clock=Clock(NOW))
    token, key = _token_and_key(url_for(signer.sign(ASSET, "hls/"), "master.m3u8"))
    grant = signer.verify(token, key)
    url = signer.cdn_url(grant, f"{ASSET}/hls/720p/seg_00001.ts")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "d111.cloudfront.net",
                                                        f"/media/{ASSET}/hls/720p/seg_00001.ts")
    query = parse_qs(parts.query)
    assert query["Key-Pair-Id"] == ["K2JCJMDEHXQW5F"]
    policy_bytes = _cf_b64decode(query["Policy"][0])
    statement = json.loads(policy_bytes)["Statement"][0]
    assert statement["Resource"] == f"https://d111.cloudfront.net/media/{ASSET}/hls/*"
    assert statement["Condition"]["DateLessThan"]["AWS:EpochTime"] == grant.expires >= NOW + 3600
    signature = _cf_b64decode(query["Signature"][0])
    private.public_key().verify(signature, policy_bytes, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    with pytest.raises(InvalidSignature):  # the signature is over this policy, not another one
        private.public_key().verify(signature, policy_bytes.replace(b"hls", b"xyz"), padding.PKCS1v15(),
                                    hashes.SHA1())  # noqa: S303
    # One signature for the whole grant: another segment differs only in its path.
    other = signer.cdn_url(grant, f"{ASSET}/hls/audio/seg_00002.m4s")
    assert urlsplit(other).query == parts.query
    for outside in (f"{ASSET}/original", f"{ASSET}/thumbs/poster.jpg", f"{uuid.uuid4()}/hls/master.m3u8"):
        assert signer.cdn_url(grant, outside) is None


def test_settings_pick_the_signer_and_the_local_key_is_made_once(tmp_path, caplog):
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    first = local_signing_key(settings)
    assert len(first) == 32 and local_signing_key(settings) == first
    key_file = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.hex() not in caplog.text
    assert isinstance(signer_from_settings(settings), LocalSigner)
    configured = Settings(data_dir=tmp_path / "other", playback_signing_key="s" * 40, _env_file=None)
    assert local_signing_key(configured) == b"s" * 40 and not (tmp_path / "other" / KEY_FILE).exists()
    assert "s" * 40 not in repr(configured)  # a SecretStr
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    cloud = Settings(data_dir=tmp_path, playback_signer="cloudfront", cloudfront_domain="d.cloudfront.net",
                     cloudfront_key_pair_id="KID", cloudfront_private_key=pem, _env_file=None)
    assert isinstance(signer_from_settings(cloud), CloudFrontSigner)
    with pytest.raises(Exception, match="VIDPIPE_CLOUDFRONT_DOMAIN"):
        signer_from_settings(Settings(data_dir=tmp_path, playback_signer="cloudfront", _env_file=None))


def test_access_log_lines_do_not_carry_playback_tokens():
    import logging

    from vidpipe.server import RedactPlaybackTokens

    signer = LocalSigner(b"k" * 32, clock=Clock(NOW))
    url = url_for(signer.sign(ASSET, "hls/"), "720p/seg_00001.ts")
    token, _ = _token_and_key(url)
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", url + "?x=1", "1.1", 200), None)
    assert RedactPlaybackTokens().filter(record)
    line = record.getMessage()
    assert token not in line and f"/v1/play/-/{ASSET}/hls/720p/seg_00001.ts?x=1" in line
