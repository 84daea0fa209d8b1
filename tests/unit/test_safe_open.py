"""Opening untrusted media: playlists, concat lists and odd names must never reach other files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest

from vidpipe.errors import InputError, MediaDecodeError, UnsafeSourceError, UnsupportedMediaError
from vidpipe.ffmpeg import safe_open
from vidpipe.ffmpeg.process import ffmpeg_exe
from vidpipe.ffmpeg.safe_open import ALLOWED_DEMUXERS, ffmpeg_input_args, open_input, sniff

PASSWD_MARKER = "root:x:0:0"


def _playlist(target: str) -> str:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n"


def _assert_no_leak(exc: BaseException) -> None:
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    text = " ".join(f"{e!s} {e!r}" for e in chain)
    assert PASSWD_MARKER not in text


# --- sniffing (pure) ---------------------------------------------------------------------------
@pytest.mark.parametrize(("head", "kind", "name"), [
    (b"", "empty", "empty file"),
    (b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", "reference", "HLS/M3U playlist"),
    (b"\xef\xbb\xbf  \n#extm3u\n", "reference", "HLS/M3U playlist"),
    (b"ffconcat version 1.0\nfile '/etc/passwd'\n", "reference", "ffconcat list"),
    (b"# my list\nfile 'a.mp4'\nfile 'b.mp4'\n", "reference", "concat list"),
    (b"<?xml version='1.0'?><MPD/>", "reference", "XML document (DASH manifest, SMIL or similar)"),
    (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\nm=video 5004 RTP/AVP 96\r\n", "reference", "SDP session description"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image", "png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image", "jpeg"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image", "webp"),
    (b"Hello, this is just a note.\nNothing to see here.\n", "text", "text"),
])
def test_sniff_classifies_what_we_refuse(head: bytes, kind: str, name: str) -> None:
    assert sniff(head) == (kind, name)


@pytest.mark.parametrize("head", [
    b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",  # MP4
    b"\x1aE\xdf\xa3\x9fB\x86\x81\x01",  # Matroska EBML
    b"RIFF\x24\x00\x00\x00WAVEfmt ",  # WAV
    b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00",  # MP3
    b"fLaC\x00\x00\x00\x22",  # FLAC
])
def test_sniff_lets_media_through_to_ffmpeg(head: bytes) -> None:
    assert sniff(head) is None


def test_allow_list_has_no_reference_following_demuxers() -> None:
    for name in ("hls", "applehttp", "concat", "ffconcat", "image2", "lavfi", "sdp", "rtp", "rtsp", "dash", "tee",
                 "data", "tty", "subfile", "png_pipe", "jpeg_pipe", "image2pipe"):
        assert name not in ALLOWED_DEMUXERS
    assert {"mov", "matroska", "mpegts", "mp3", "wav", "flac", "ogg", "aac", "avi", "flv", "mpeg", "mxf"} <= set(
        ALLOWED_DEMUXERS)


# --- real files ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "demuxer"), [
    ("h264_720p", "mov"), ("multi_audio_mkv", "matroska"), ("mp3", "mp3"), ("wav", "wav"), ("flac", "flac"),
])
def test_open_accepts_media(media, name: str, demuxer: str) -> None:
    with open_input(media.get(name)) as container:
        assert demuxer in container.format.name.split(",")
        assert safe_open.demuxer_name(container) == demuxer
        assert len(container.streams) >= 1


@pytest.mark.parametrize("filename", ["video.m3u8", "clip.mp4", "upload.bin", "noext"])
def test_hls_playlist_naming_etc_passwd_is_refused(tmp_path: Path, filename: str) -> None:
    hostile = tmp_path / filename
    hostile.write_text(_playlist("file:///etc/passwd"))
    with pytest.raises(UnsafeSourceError, match="playlist/concat files are not accepted") as info:
        open_input(hostile)
    _assert_no_leak(info.value)
    with pytest.raises(UnsafeSourceError) as info:
        ffmpeg_input_args(hostile)
    _assert_no_leak(info.value)


def test_ssrf_playlist_is_refused(tmp_path: Path) -> None:
    hostile = tmp_path / "ssrf.mp4"
    hostile.write_text(_playlist("http://127.0.0.1:9/secret.ts"))
    with pytest.raises(UnsafeSourceError):
        open_input(hostile)


@pytest.fixture
def secret_segment(media, tmp_path: Path) -> Path:
    """A readable MPEG-TS file outside the upload: what a hostile playlist wants FFmpeg to read."""
    secret = tmp_path / "secret" / "private.ts"
    secret.parent.mkdir()
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(media.get("no_audio")), "-c", "copy", "-t", "1",
                    "-f", "mpegts", str(secret)], check=True)
    return secret


def test_the_attack_is_real_without_protection(tmp_path: Path, secret_segment: Path) -> None:
    # Plain FFmpeg follows the playlist to a file outside the upload: this is what we defend against.
    hostile = tmp_path / "upload.m3u8"
    hostile.write_text(_playlist(f"file://{secret_segment}"))
    with av.open(str(hostile)) as container:
        assert container.format.name == "hls"
        assert len(container.streams.video) == 1


def test_ffmpeg_layer_refuses_playlists_even_if_sniffing_missed_them(tmp_path: Path, secret_segment: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safe_open, "sniff", lambda head: None)  # defence in depth: format_whitelist alone
    hostile = tmp_path / "upload.m3u8"
    hostile.write_text(_playlist(f"file://{secret_segment}"))
    with pytest.raises(UnsupportedMediaError, match="not a video or audio file we accept"):
        open_input(hostile)
    concat = tmp_path / "list.ffconcat"
    concat.write_text(f"ffconcat version 1.0\nfile '{secret_segment}'\n")
    with pytest.raises(InputError):
        open_input(concat)


def test_ffmpeg_cli_args_refuse_playlists(tmp_path: Path, secret_segment: Path) -> None:
    # The same allow-list in the CLI form the transcode stage uses, against a playlist FFmpeg would follow.
    hostile = tmp_path / "upload.m3u8"
    hostile.write_text(_playlist(f"file://{secret_segment}"))
    args = ["-protocol_whitelist", "file", "-format_whitelist", ",".join(ALLOWED_DEMUXERS), "-i", f"file:{hostile}"]
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", *args, "-f", "null", "-"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "not on whitelist" in proc.stderr


def test_ffconcat_list_is_refused(tmp_path: Path) -> None:
    hostile = tmp_path / "list.txt"
    hostile.write_text("ffconcat version 1.0\nfile '/etc/passwd'\n")
    with pytest.raises(UnsafeSourceError, match="ffconcat list") as info:
        open_input(hostile)
    _assert_no_leak(info.value)


@pytest.mark.parametrize("filename", ["concat:evil.mp4|other.mp4", "http:host.mp4", "-i.mp4", "clip.m3u8", "noext",
                                      "file:..%2fetc.mp4"])
def test_names_are_never_paths_or_urls(media, tmp_path: Path, filename: str) -> None:
    path = tmp_path / filename
    shutil.copyfile(media.get("small_360p"), path)
    with open_input(path) as container:
        assert safe_open.demuxer_name(container) == "mov"
    args = ffmpeg_input_args(path)
    assert args[-2:] == ["-i", f"file:{path.resolve()}"]
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args, "-t", "0.2", "-f", "null", "-"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_ffmpeg_input_args_work_with_the_bundled_cli(media) -> None:
    path = media.get("h264_720p")
    args = ffmpeg_input_args(path, max_frame_pixels=1920 * 1080)
    assert args[:2] == ["-protocol_whitelist", "file"]
    assert args[args.index("-format_whitelist") + 1].split(",") == list(ALLOWED_DEMUXERS)
    assert args[args.index("-f") + 1] == "mov"
    assert args[args.index("-max_pixels") + 1] == str(1920 * 1080)
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args, "-t", "0.2", "-f", "null", "-"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_ffmpeg_input_args_max_pixels_is_enforced_by_the_cli(media) -> None:
    path = media.get("h264_720p")
    args = ffmpeg_input_args(path)
    args[args.index("-i"):args.index("-i")] = ["-max_pixels", "1000"]
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", *args, "-t", "0.2", "-f", "null", "-"],
                          capture_output=True, text=True)
    assert proc.returncode != 0


@pytest.mark.parametrize(("writer", "error", "message"), [
    (lambda p: p.write_bytes(b""), UnsupportedMediaError, "empty file"),
    (lambda p: p.write_text("just some notes\nabout a video\n"), UnsupportedMediaError,
     r"not a video or audio file \(detected format: text\)"),
])
def test_non_media_is_refused_with_a_reason(tmp_path: Path, writer, error, message: str) -> None:
    path = tmp_path / "upload.mp4"
    writer(path)
    with pytest.raises(error, match=message):
        open_input(path)


def test_random_bytes_are_a_decode_error(media) -> None:
    with pytest.raises(MediaDecodeError, match="not a readable video or audio file"):
        open_input(media.get("random_mp4"))


@pytest.mark.parametrize(("name", "fmt"), [("still_png", "png"), ("still_jpeg", "jpeg")])
def test_still_images_are_refused(media, name: str, fmt: str) -> None:
    with pytest.raises(UnsupportedMediaError, match=rf"still image is not a video \(detected format: {fmt}\)"):
        open_input(media.get(name))


def test_explicit_format_must_be_allowed(media) -> None:
    with pytest.raises(UnsupportedMediaError):
        open_input(media.get("h264_720p"), format="hls")
