"""The pure rewrite of playlist and thumbnail-track URIs for CDN delivery (vidpipe.playback.rewrite)."""

from __future__ import annotations

import pytest

from vidpipe.playback.rewrite import resolve, rewrite_playlist, rewrite_thumbnail_track

A = "0b7a3c9e-2f51-4d8e-9a61-3f2c1d0e5b47"


def cdn(key: str) -> str | None:
    """Stand-in for CloudFrontSigner.cdn_url under a grant over `{A}/hls/` and `{A}/thumbs/`."""
    return f"https://cdn.test/media/{key}?Sig=1" if key.startswith((f"{A}/hls/", f"{A}/thumbs/")) else None


MASTER = """#EXTM3U\r
#EXT-X-VERSION:6\r
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="eng",DEFAULT=YES,AUTOSELECT=YES,URI="audio_eng/index.m3u8"\r
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",URI="sub_eng/index.m3u8"\r
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="aud"\r
360p/index.m3u8\r
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="360p/iframes.m3u8"\r
"""


def test_master_playlist_keeps_playlist_uris_relative_and_is_otherwise_unchanged():
    # Variant playlists come back through the API's signed route under the same token: nothing to sign.
    assert rewrite_playlist(MASTER, f"{A}/hls/master.m3u8", cdn) == MASTER


def test_media_playlist_file_uris_become_absolute_signed_urls():
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"720@0\"\n"
        "#EXT-X-KEY:METHOD=NONE\n#EXTINF:2.000,\nseg_00000.m4s\n  \n#EXTINF:2.000,\n../360p/seg_00001.m4s\n"
        "#EXTINF:1.0,\n# a comment naming seg.ts stays\nhttps://elsewhere.test/ad.ts\n#EXT-X-ENDLIST\n"
    )
    out = rewrite_playlist(text, f"{A}/hls/720p/index.m3u8", cdn)
    assert out.splitlines() == [
        "#EXTM3U", "#EXT-X-TARGETDURATION:2",
        f'#EXT-X-MAP:URI="https://cdn.test/media/{A}/hls/720p/init.mp4?Sig=1",BYTERANGE="720@0"',
        "#EXT-X-KEY:METHOD=NONE", "#EXTINF:2.000,", f"https://cdn.test/media/{A}/hls/720p/seg_00000.m4s?Sig=1",
        "  ", "#EXTINF:2.000,", f"https://cdn.test/media/{A}/hls/360p/seg_00001.m4s?Sig=1",
        "#EXTINF:1.0,", "# a comment naming seg.ts stays", "https://elsewhere.test/ad.ts", "#EXT-X-ENDLIST",
    ]  # fmt: skip
    assert out.endswith("\n")


def test_uris_outside_the_grant_or_unsafe_are_left_alone():
    text = "#EXTM3U\n../../other/seg.ts\n../../../../etc/passwd\n/abs/seg.ts\nseg 1.ts\nseg.ts?x=1\n%2e%2e/seg.ts\n"
    assert rewrite_playlist(text, f"{A}/hls/720p/index.m3u8", cdn) == text


def test_subtitle_playlists_point_at_the_signed_webvtt_file():
    text = "#EXTM3U\n#EXTINF:3.000,\nsubtitles.vtt\n#EXT-X-ENDLIST\n"
    out = rewrite_playlist(text, f"{A}/hls/sub_eng/index.m3u8", cdn)
    assert f"https://cdn.test/media/{A}/hls/sub_eng/subtitles.vtt?Sig=1\n" in out


def test_thumbnail_track_cues_keep_their_media_fragment_after_the_signature():
    track = ("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsprite-000.jpg#xywh=0,0,160,90\n\n"
             "00:00:02.000 --> 00:00:04.000\nsprite-000.jpg#xywh=160,0,160,90\n")
    out = rewrite_thumbnail_track(track, f"{A}/thumbs/sprites.vtt", cdn)
    assert f"https://cdn.test/media/{A}/thumbs/sprite-000.jpg?Sig=1#xywh=160,0,160,90\n" in out
    assert out.count("https://") == 2 and out.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n")


def test_subtitle_text_is_never_taken_for_a_uri():
    track = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nsee photo.jpg\nphoto.jpg\n- sprite.jpg#xywh=1,2,3,4 -\n"
    assert rewrite_thumbnail_track(track, f"{A}/hls/sub_eng/subtitles.vtt", cdn) == track


@pytest.mark.parametrize(("base", "uri", "expected"), [
    (f"{A}/hls/master.m3u8", "720p/index.m3u8", f"{A}/hls/720p/index.m3u8"),
    (f"{A}/hls/720p/index.m3u8", "./seg.ts", f"{A}/hls/720p/seg.ts"),
    (f"{A}/hls/720p/index.m3u8", "../audio/seg.ts", f"{A}/hls/audio/seg.ts"),
    (f"{A}/hls/master.m3u8", "../../x", None),
    (f"{A}/hls/master.m3u8", "http://x/y.ts", None),
    (f"{A}/hls/master.m3u8", "//x/y.ts", None),
    (f"{A}/hls/master.m3u8", "", None),
    (f"{A}/hls/master.m3u8", "a\\b.ts", None),
])  # fmt: skip
def test_resolve_is_what_a_player_does_with_a_relative_uri(base, uri, expected):
    assert resolve(base, uri) == expected
