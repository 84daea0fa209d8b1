"""A stand-in for the CloudFront distribution of the stack (infra/vidpipe_infra/delivery.py), and a player that
follows every URI of every playlist the way hls.js does.

`media/*` checks a signed URL as CloudFront does (key pair id in the key group, RSA-SHA1 signature over the
policy with the public key, the policy's resource wildcard and expiry), then reads the bucket (origin access
control); every other path goes to the API (the VPC origin), whatever serves it: the ASGI app or a process.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

URI_ATTRIBUTE = re.compile(r'(?<=[:,])URI="([^"]*)"')


def _cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


@dataclass
class Distribution:
    """What CloudFront does with a request to the distribution."""

    api: Any  # .get(path) -> httpx.Response: the API behind the VPC origin
    s3: Any
    bucket: str
    public_key: rsa.RSAPublicKey
    domain: str
    key_pair_id: str
    now: float = field(default_factory=time.time)
    api_paths: list[str] = field(default_factory=list)
    media_paths: list[str] = field(default_factory=list)

    def get(self, url: str, follow: bool = True) -> httpx.Response:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("https", self.domain), url
        if not parts.path.startswith("/media/"):
            self.api_paths.append(parts.path)
            response = self.api.get(parts.path + (f"?{parts.query}" if parts.query else ""))
            if follow and response.status_code == 302:
                return self.get(response.headers["location"])
            return response
        self.media_paths.append(parts.path)
        refusal = self.refusal(url)
        if refusal:
            return httpx.Response(403, text=refusal)
        body = self.s3.get_object(Bucket=self.bucket, Key=parts.path[1:])["Body"].read()
        return httpx.Response(200, content=body)

    def refusal(self, url: str) -> str | None:
        query = parse_qs(urlsplit(url).query)
        if set(query) != {"Policy", "Signature", "Key-Pair-Id"}:
            return "missing signature"
        if query["Key-Pair-Id"] != [self.key_pair_id]:
            return "key pair not in the key group"
        policy = _cf_b64decode(query["Policy"][0])
        try:
            self.public_key.verify(_cf_b64decode(query["Signature"][0]), policy, padding.PKCS1v15(),
                                   hashes.SHA1())  # noqa: S303 - what CloudFront verifies
        except InvalidSignature:
            return "bad signature"
        statement = json.loads(policy)["Statement"][0]
        resource = statement["Resource"]
        pattern = "^" + ".*".join(re.escape(p) for p in resource.split("*")) + "$"
        if not re.match(pattern, url):
            return "resource does not match"
        if self.now >= statement["Condition"]["DateLessThan"]["AWS:EpochTime"]:
            return "expired"
        return None


def playlist_uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT"):
            uris += URI_ATTRIBUTE.findall(line)
        elif line and not line.startswith("#"):
            uris.append(line)
    return uris


def play(cdn: Distribution, master_url: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Load every playlist from the master down and every file they name, resolving URIs like hls.js
    (against the URL the playlist was loaded from). Returns {playlist url: text}, {file url: bytes}."""
    playlists: dict[str, str] = {}
    files: dict[str, bytes] = {}
    queue = [master_url]
    while queue:
        url = queue.pop(0)
        if url in playlists:
            continue
        response = cdn.get(url)
        assert response.status_code == 200, (url[:120], response.text[:200])
        assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl"), url[:120]
        playlists[url] = response.text
        for uri in playlist_uris(response.text):
            target = urljoin(url, uri)
            if urlsplit(target).path.endswith(".m3u8"):
                queue.append(target)
            elif target not in files:
                got = cdn.get(target, follow=False)
                assert got.status_code == 200, (target[:120], got.text[:200])
                files[target] = got.content
    return playlists, files
