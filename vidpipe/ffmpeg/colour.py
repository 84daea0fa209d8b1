"""Colour of the ladder's pictures (pure): the HDR-to-SDR tone map, and the filter that puts a picture's colour
description back on frames that lost it on the way."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Colour:
    """A picture's colour description in FFmpeg's names; None: unspecified."""

    primaries: str | None = None
    transfer: str | None = None
    matrix: str | None = None
    range: str | None = None  # "tv" (limited) | "pc" (full)


SDR_BT709 = Colour("bt709", "bt709", "bt709", "tv")  # what `tonemap_filter` outputs
# Transfers the probe names as FFmpeg did once; setparams knows them by their standard's name.
_SETPARAMS_NAMES = {"gamma22": "bt470m", "gamma28": "bt470bg"}


def tonemap_filter(transfer: str, primaries: str | None, matrix: str | None) -> str:
    """HDR (PQ or HLG, BT.2020) to SDR BT.709: linear light, BT.709 primaries, tone curve, 8-bit 4:2:0.

    Möbius keeps what lies within SDR range nearly as it is and rolls off only the highlights; Hable darkened
    diffuse white (a test picture mastered at 100 nits came out at 65 % of its brightness)."""
    source = f"tin={transfer}:pin={primaries or 'bt2020'}:min={matrix or 'bt2020nc'}"
    return (f"zscale={source}:t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=mobius:desat=0,"
            "zscale=t=bt709:m=bt709:r=tv,format=yuv420p")


def tag_filter(colour: Colour) -> str:
    """A filter that tags every frame with `colour` (what is None is left as the frame has it); "null" when
    there is nothing to tag.

    For frames read back from a raw NUT, which stores no colour description: untagged, their rungs come out
    untagged (a tone-mapped source's not SDR BT.709, a full-range one's played as limited); and where the
    encoder is asked for BT.709 (a tone-mapped ladder), the ladder's scale converts what it takes for BT.601
    into it: other pixels than the ladder decoded from the source gets."""
    values = {"color_primaries": colour.primaries, "color_trc": colour.transfer, "colorspace": colour.matrix,
              "range": colour.range}
    tags = [f"{key}={_SETPARAMS_NAMES.get(value, value)}" for key, value in values.items() if value]
    return "setparams=" + ":".join(tags) if tags else "null"
