"""WebVTT, as the sprite track, the captions and the subtitle renditions write it."""

from __future__ import annotations


def vtt_timestamp(seconds: float) -> str:
    """`HH:MM:SS.mmm`, rounded to the millisecond; negative times clamp to zero."""
    millis = round(max(0.0, seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"
