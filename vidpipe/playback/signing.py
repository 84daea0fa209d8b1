"""Signed playback URLs: a grant of GET on every key under `{asset_id}/{path_prefix}` until an expiry.

Players and embeds get these instead of an API key, so no key ever sits in a URL, a log or a Referer.

- `LocalSigner`: HMAC-SHA256 over (asset id, path prefix, expiry), served by this API at
  `/v1/play/{token}/{asset_id}/{key...}`. The token is a PATH segment on purpose: the relative variant and
  segment URIs inside HLS playlists resolve against the playlist's URL, so they inherit the token and the
  stored playlists need no rewriting (a query string would not be inherited).
- `CloudFrontSigner`: the same route tokens, rooted at the CloudFront distribution (which forwards the route
  to the API); the API serves the playlists there with every file URI rewritten into a CloudFront signed URL
  (custom policy, wildcard over the grant's prefix), so segments come straight from CloudFront/S3.

Expiries are rounded up to a step (a sixth of the lifetime, at most an hour), so the URLs of one asset stay the
same for a while: cached API responses keep their ETag and browsers keep their cached segments.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from vidpipe.errors import ForbiddenError, VidpipeError
from vidpipe.settings import Settings

PLAY_ROUTE = "/v1/play"
KEY_FILE = "playback-signing.key"
_MAX_EXPIRY_DIGITS = 12  # seconds since the epoch: ten digits until 2286; a longer number is not ours
_TOKEN = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]*)\.([A-Za-z0-9_-]{43})$")


class PlaybackSigner(Protocol):
    ttl_seconds: int
    base_url: str  # where the signed route (and the embed page) is served: "" for this server, relative

    def sign(self, asset_id: uuid.UUID | str, path_prefix: str, ttl_seconds: int | None = None) -> str:
        """A URL granting GET on every key under `{asset_id}/{path_prefix}` until the expiry. The URL's path
        ends with `{asset_id}/{path_prefix}`: append the rest of a key to the path (`url_for`)."""
        ...

    def expiry(self, ttl_seconds: int | None = None) -> int:
        """The expiry (epoch seconds) that `sign` puts into URLs made now with this lifetime."""
        ...

    def verify(self, token: str, key: str) -> Grant:
        """The grant in a route token if it is ours, unexpired and covers `key`; else ForbiddenError (403)."""
        ...


@dataclass(frozen=True)
class Grant:
    asset_id: str
    path_prefix: str
    expires: int

    def covers(self, key: str) -> bool:
        return key.startswith(f"{self.asset_id}/{self.path_prefix}")


def url_for(signed: str, rest: str = "") -> str:
    """The signed URL of `{asset_id}/{path_prefix}{rest}` (before any query string the signer added)."""
    base, sep, query = signed.partition("?")
    return f"{base}{rest}{sep}{query}"


def rounded_expiry(now: float, ttl_seconds: int) -> int:
    step = max(1, min(3600, ttl_seconds // 6))
    return math.ceil((now + ttl_seconds) / step) * step


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _asset(asset_id: uuid.UUID | str) -> str:
    return str(asset_id if isinstance(asset_id, uuid.UUID) else uuid.UUID(str(asset_id)))


class LocalSigner:
    """HMAC-signed URLs served by vidpipe itself at `/v1/play/{token}/...`."""

    def __init__(self, key: bytes, *, base_url: str | None = None, ttl_seconds: int = 6 * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        if len(key) < 16:
            raise ValueError("a playback signing key needs at least 16 bytes")
        self._key = key
        self.base_url = (base_url or "").rstrip("/")
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    def expiry(self, ttl_seconds: int | None = None) -> int:
        return rounded_expiry(self._clock(), ttl_seconds or self.ttl_seconds)

    def _mac(self, asset_id: str, path_prefix: str, expires: int) -> bytes:
        message = f"vidpipe-play-v1\n{asset_id}\n{path_prefix}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def token(self, asset_id: uuid.UUID | str, path_prefix: str, expires: int) -> str:
        asset = _asset(asset_id)
        return f"{expires}.{_b64(path_prefix.encode())}.{_b64(self._mac(asset, path_prefix, expires))}"

    def sign(self, asset_id: uuid.UUID | str, path_prefix: str, ttl_seconds: int | None = None) -> str:
        asset = _asset(asset_id)
        token = self.token(asset, path_prefix, self.expiry(ttl_seconds))
        return f"{self.base_url}{PLAY_ROUTE}/{token}/{asset}/{path_prefix}"

    def verify(self, token: str, key: str) -> Grant:
        """The grant in `token` if it is ours, unexpired and covers `key`; else ForbiddenError (403)."""
        match = _TOKEN.match(token)
        if match is None:
            raise ForbiddenError("not a playback URL signed by this server", code="invalid_signature")
        expires, prefix_b64, mac_b64 = match.groups()
        try:
            prefix = _unb64(prefix_b64).decode()
            asset = _asset(key.split("/", 1)[0])
        except ValueError:
            raise ForbiddenError("not a playback URL signed by this server", code="invalid_signature") from None
        if not hmac.compare_digest(_unb64(mac_b64), self._mac(asset, prefix, int(expires))):
            raise ForbiddenError("not a playback URL signed by this server", code="invalid_signature")
        grant = Grant(asset, prefix, int(expires))
        if grant.expires <= self._clock():
            raise ForbiddenError("this playback URL has expired: ask the API for a new one", code="url_expired")
        if not grant.covers(key):
            raise ForbiddenError("this playback URL does not cover that file", code="invalid_signature")
        return grant


class CloudFrontSigner(LocalSigner):
    """For deployments whose media store CloudFront serves (origin access control, a trusted key group).

    `sign()` makes the same path-token URLs as LocalSigner, rooted at `https://{domain}` (the distribution
    sends every path but `{key_prefix}*` to the API): players load playlists there, and the API rewrites the
    URIs in them (vidpipe.playback.rewrite) into `cdn_url()`s, CloudFront signed URLs with a custom policy whose
    resource is a wildcard over the grant's prefix and whose expiry is the grant's. One RSA signature therefore
    covers every segment of a grant; files then come straight from CloudFront, never through the API.

    The route tokens' HMAC key is `route_key`, by default derived (HKDF) from the CloudFront private key: every
    process that can mint CloudFront URLs for any asset may as well mint route tokens, and the deployment keeps
    one secret (rotating it rotates both)."""

    def __init__(self, domain: str, key_pair_id: str, private_key_pem: bytes, *, key_prefix: str = "",
                 route_key: bytes | None = None, ttl_seconds: int = 6 * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        from botocore.signers import CloudFrontSigner as BotoSigner
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("CloudFront signing needs an RSA private key (PEM)")
        self._rsa = key
        base_url = "https://" + domain.removeprefix("https://").strip("/")
        super().__init__(route_key or _derive_route_key(key), base_url=base_url, ttl_seconds=ttl_seconds,
                         clock=clock)
        self.key_prefix = key_prefix.strip("/") + "/" if key_prefix.strip("/") else ""  # the media store's prefix
        self._boto = BotoSigner(key_pair_id, self._rsa_sign)

    def _rsa_sign(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return self._rsa.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - what CloudFront verifies

    def cdn_url(self, grant: Grant, key: str) -> str | None:
        """The CloudFront signed URL of stored `key` under a verified `grant`, expiring with it; None when the
        grant does not cover the key (the caller leaves such a URI alone, and CloudFront would refuse it)."""
        if not grant.covers(key):
            return None
        return f"{self.base_url}/{self.key_prefix}{key}?{self._grant_query(grant)}"

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - one signer per process; an RSA signature costs ~1 ms
    def _grant_query(self, grant: Grant) -> str:
        resource = f"{self.base_url}/{self.key_prefix}{grant.asset_id}/{grant.path_prefix}"
        policy = self._boto.build_policy(resource + "*", datetime.fromtimestamp(grant.expires, UTC))
        return self._boto.generate_presigned_url(resource, policy=policy).partition("?")[2]


def _derive_route_key(private_key) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    material = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"vidpipe-play-route-v1").derive(material)


def local_signing_key(settings: Settings) -> bytes:
    """The configured key, or one made once and kept in the data directory (mode 0600), so that `vidpipe up`
    works out of the box and every process on the machine signs alike. Never logged."""
    if settings.playback_signing_key is not None:
        return settings.playback_signing_key.get_secret_value().encode()
    path = settings.data_dir / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fresh = settings.data_dir / f".{KEY_FILE}.{os.getpid()}.{uuid.uuid4().hex}"
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(os.urandom(32).hex())
    try:
        os.link(fresh, path)  # atomic, and fails when another process got there first: its key wins
    except FileExistsError:
        pass
    finally:
        fresh.unlink()
    return bytes.fromhex(Path(path).read_text().strip())


def signer_from_settings(settings: Settings) -> LocalSigner | CloudFrontSigner:
    ttl = settings.playback_url_ttl_seconds
    if settings.playback_signer == "cloudfront":
        if not (settings.cloudfront_domain and settings.cloudfront_key_pair_id and settings.cloudfront_private_key):
            raise VidpipeError("VIDPIPE_PLAYBACK_SIGNER=cloudfront needs VIDPIPE_CLOUDFRONT_DOMAIN, "
                               "VIDPIPE_CLOUDFRONT_KEY_PAIR_ID and VIDPIPE_CLOUDFRONT_PRIVATE_KEY",
                               code="configuration")
        pem = settings.cloudfront_private_key.get_secret_value().encode()
        route_key = settings.playback_signing_key.get_secret_value().encode() if settings.playback_signing_key else None
        return CloudFrontSigner(settings.cloudfront_domain, settings.cloudfront_key_pair_id, pem,
                                key_prefix=settings.cloud.s3_prefix, route_key=route_key, ttl_seconds=ttl)
    return LocalSigner(local_signing_key(settings), base_url=settings.public_base_url, ttl_seconds=ttl)
