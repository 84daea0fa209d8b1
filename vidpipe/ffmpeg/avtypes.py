"""Typed access to the few PyAV attributes whose stubs (av 18.1) are looser than the runtime or wrong.

Small helpers instead of `# type: ignore` at every use: the reason is written once, here, and callers get
precise types.
"""

from __future__ import annotations

from fractions import Fraction
from typing import cast

import av.stream
import av.video.frame
from av.sidedata.sidedata import SideDataContainer

from vidpipe.errors import MediaDecodeError


def time_base(stream: av.stream.Stream) -> Fraction:
    """The stream's time base. The stubs say it may be None (PyAV maps a 0/0 rational to None); FFmpeg gives
    every demuxed stream one, so None means a header we cannot time anything in."""
    tb = stream.time_base
    if tb is None:
        raise MediaDecodeError(f"stream {stream.index} has no time base: the container header is corrupt")
    return tb


def side_data(frame: av.video.frame.VideoFrame) -> SideDataContainer:
    """A decoded picture's side data. av's frame.pyi declares `Frame.side_data` as a TypedDict of motion
    vectors; at runtime it is a SideDataContainer, a Mapping keyed by `av.sidedata.sidedata.Type`."""
    return cast(SideDataContainer, frame.side_data)
