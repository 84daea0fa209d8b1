"""Opening UNTRUSTED media: a demuxer allow-list, file-protocol only, names never read as URLs.

FFmpeg follows references inside playlists and concat lists (hls, concat, ffconcat, dash, sdp
demuxers; file:, http: protocols), so an "upload" that is an m3u8 naming file:///etc/passwd or
http://127.0.0.1 is a local-file read or an SSRF. Three layers stop that:

1. `sniff()` looks at the first bytes ourselves and refuses playlists, concat lists, manifests,
   text and still images with a readable reason, before FFmpeg sees the file;
2. FFmpeg may only pick a demuxer from `ALLOWED_DEMUXERS` (`format_whitelist`, checked before the
   demuxer reads its header) and may only open `file` URLs (`protocol_whitelist`);
3. the path is passed as `file:/absolute/path`, so a name like `concat:a|b` or `http:x` is a name.

Decoders also get `max_pixels`, so a header claiming a gigantic picture is refused instead of
allocated while FFmpeg looks for stream parameters.
"""

from __future__ import annotations

from pathlib import Path

import av
import av.container

from vidpipe.errors import MediaDecodeError, UnsafeSourceError, UnsupportedMediaError

# FFmpeg input-format short names. A demuxer whose name list ("mov,mp4,m4a,3gp,3g2,mj2",
# "matroska,webm") contains one of these is allowed. "mpeg" is MPEG program stream.
ALLOWED_DEMUXERS: tuple[str, ...] = (
    "mov", "mp4", "m4a", "3gp", "3g2", "mj2",
    "matroska", "webm",
    "mpegts",
    "avi",
    "flv",
    "mp3",
    "wav",
    "flac",
    "ogg",
    "aac",
    "mpeg",
    "mxf",
    # Containers and elementary streams that carry media only (no references to other files or URLs).
    "asf",  # WMV/WMA (the XML-based ASX playlist is a different format, refused by sniff())
    "aiff",
    "ac3",
    "eac3",
    "caf",
    "w64",
    "wv",
    "dts",
    "amr",
    "ivf",
    "dv",
)
_WHITELIST = ",".join(ALLOWED_DEMUXERS)
ACCEPTED_CONTAINERS = ("MP4/MOV/3GP, Matroska/WebM, MPEG-TS/PS, AVI, FLV, MXF, ASF/WMV/WMA, Ogg, MP3, AAC, "
                       "WAV/W64, AIFF, CAF, FLAC, WavPack, AC-3/E-AC-3, DTS, AMR, IVF, DV")
_SNIFF_BYTES = 4096

# Reasons that make a file a reference to other files rather than media.
_REFERENCE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"#EXTM3U", "HLS/M3U playlist"),
    (b"ffconcat version", "ffconcat list"),
    (b"<?xml", "XML document (DASH manifest, SMIL or similar)"),
    (b"<MPD", "DASH manifest"),
    (b"[playlist]", "PLS playlist"),
    (b"#EXTM3U8", "HLS/M3U playlist"),
)
_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x00\x00\x01\x00", "ico"),
)


def sniff(head: bytes) -> tuple[str, str] | None:
    """Classify the first bytes of a file we refuse outright: (kind, detected format), or None to let FFmpeg probe."""
    if not head:
        return "empty", "empty file"
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    for magic, name in _REFERENCE_MAGIC:
        if stripped[: len(magic)].upper() == magic.upper():
            return "reference", name
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[4:12] in (b"ftypavif", b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "image", "heif/avif"
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic):
            return "image", name
    if _looks_like_text(head):
        lines = [ln.strip() for ln in stripped.splitlines()[:20]]
        if any(ln.startswith((b"file ", b"file\t")) for ln in lines):
            return "reference", "concat list"
        if stripped.startswith(b"v=0"):
            return "reference", "SDP session description"
        return "text", "text"
    return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # only a character cut at the end of the sample is fine
            return False
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(1, len(text))


def _url(path: Path) -> str:
    # `file:` + an absolute path: FFmpeg never reads the name as another protocol or an option.
    return "file:" + str(Path(path).resolve())


def _refuse(path: Path) -> None:
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    found = sniff(head)
    if found is None:
        return
    kind, name = found
    if kind == "empty":
        raise UnsupportedMediaError("empty file (0 bytes): not a video or audio file")
    if kind == "reference":
        raise UnsafeSourceError(f"playlist/concat files are not accepted: the upload is a {name}, "
                                "which points at other files or addresses; upload the media file itself",
                                code="playlist_not_accepted")
    if kind == "image":
        raise UnsupportedMediaError(f"a still image is not a video (detected format: {name})")
    raise UnsupportedMediaError(f"not a video or audio file (detected format: {name})")


def _options(max_frame_pixels: int | None) -> tuple[dict[str, str], dict[str, str]]:
    container = {"protocol_whitelist": "file", "format_whitelist": _WHITELIST}
    codec = {"max_pixels": str(max_frame_pixels)} if max_frame_pixels else {}
    return container, codec


def open_input(path: Path, *, format: str | None = None,
               max_frame_pixels: int | None = None) -> av.container.InputContainer:
    """Open an untrusted file for demuxing; raise a typed InputError with a readable reason if we won't."""
    path = Path(path)
    _refuse(path)
    container_options, codec_options = _options(max_frame_pixels)
    if format is not None and format.split(",")[0] not in ALLOWED_DEMUXERS:
        raise UnsupportedMediaError(f"container format {format!r} is not accepted")
    try:
        container = av.open(_url(path), mode="r", format=format, container_options=container_options,
                            options=codec_options)
    except av.error.ArgumentError as exc:  # the probed demuxer is not on the whitelist
        raise UnsupportedMediaError("not a video or audio file we accept (the container format is not one of "
                                    f"{ACCEPTED_CONTAINERS}; see docs/formats.md)"
                                    ) from exc
    except PermissionError as exc:
        raise UnsafeSourceError(f"the file refers to other files or addresses: {exc}") from exc
    except av.error.InvalidDataError as exc:
        raise MediaDecodeError("not a readable video or audio file: the data is corrupt, truncated or in an "
                               f"unknown format ({_ffmpeg_reason(exc)})") from exc
    except av.error.FFmpegError as exc:
        raise MediaDecodeError(f"could not open the media file: {_ffmpeg_reason(exc)}") from exc
    if not container.format.name or not any(n in ALLOWED_DEMUXERS for n in container.format.name.split(",")):
        container.close()  # belt and braces: format_whitelist already enforces this
        raise UnsupportedMediaError(f"container format {container.format.name!r} is not accepted")
    return container


def demuxer_name(container: av.container.InputContainer) -> str:
    """The allowed short name of an open container's demuxer ("mov", "matroska", ...), usable with `-f`."""
    return next(n for n in container.format.name.split(",") if n in ALLOWED_DEMUXERS)


def ffmpeg_input_args(path: Path, *, max_frame_pixels: int | None = None) -> list[str]:
    """The ffmpeg CLI input arguments that open `path` as safely as `open_input`, ending with `-i file:/abs/path`.

    Probes the file once (raising the same errors as `open_input`), then pins the demuxer with `-f`.
    """
    with open_input(path, max_frame_pixels=max_frame_pixels) as container:
        fmt = demuxer_name(container)
    args = ["-protocol_whitelist", "file", "-format_whitelist", _WHITELIST, "-f", fmt]
    if max_frame_pixels:
        args += ["-max_pixels", str(max_frame_pixels)]
    return [*args, "-i", _url(path)]


def _ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    # The message names our own file: URL; keep only FFmpeg's reason.
    return getattr(exc, "strerror", None) or str(exc)
