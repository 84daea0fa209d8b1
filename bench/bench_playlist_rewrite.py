"""Benchmark the CloudFront playlist rewrite (vidpipe.playback.rewrite + CloudFrontSigner.cdn_url): what a
variant playlist weighs once every segment URI carries the grant's signature, raw and gzipped as the API sends
it (vidpipe/api/cdn_play.py), and how long the rewrite of one playlist takes.

    python bench/bench_playlist_rewrite.py [--minutes 120] [--segment-seconds 4] [--repeat 20]

Prints a Markdown table; sizes are exact, the time is the median of --repeat rewrites of one playlist (a
player loads each variant playlist once per session). Report `uptime` beside the time.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import time
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vidpipe.playback.rewrite import rewrite_playlist
from vidpipe.playback.signing import CloudFrontSigner, url_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=120)
    parser.add_argument("--segment-seconds", type=float, default=4.0)  # the default profile's segments
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    signer = CloudFrontSigner("d111111abcdef8.cloudfront.net", "K2JCJMDEHXQW5F", pem, key_prefix="media/")
    asset = uuid.uuid4()
    key = f"{asset}/hls/720p/index.m3u8"
    token = url_for(signer.sign(asset, "hls/"), "720p/index.m3u8").split("/")[5]
    grant = signer.verify(token, key)
    count = round(args.minutes * 60 / args.segment_seconds)
    stored = (f"#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{round(args.segment_seconds)}\n"
              "#EXT-X-PLAYLIST-TYPE:VOD\n"
              + "".join(f"#EXTINF:{args.segment_seconds:.3f},\nseg_{i:05d}.ts\n" for i in range(count))
              + "#EXT-X-ENDLIST\n")  # fmt: skip
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = rewrite_playlist(stored, key, lambda k: signer.cdn_url(grant, k))
        times.append(time.perf_counter() - start)
    raw, signed = stored.encode(), out.encode()
    print(f"{args.minutes:g} min at {args.segment_seconds:g} s segments = {count} segments; "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| playlist | raw | gzip (level 5) |\n|---|---|---|")
    for name, data in (("stored (relative URIs)", raw), ("rewritten (signed CloudFront URLs)", signed)):
        print(f"| {name} | {len(data):,} B | {len(gzip.compress(data, compresslevel=5)):,} B |")
    print(f"\nrewrite: median {statistics.median(times) * 1000:.1f} ms per playlist "
          f"({statistics.median(times) / count * 1e6:.1f} µs per segment URI)")


if __name__ == "__main__":
    main()
