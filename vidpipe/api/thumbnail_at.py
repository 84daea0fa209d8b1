"""A still of any moment of a video: which frame a request means (pure) and making it with ffmpeg (shell).

Used by GET /v1/assets/{id}/thumbnail.jpg. A request names a time and a width; the time is snapped to the
frame that is on screen at that time (so 0:13.04 and 0:13.05 at 15 fps share one cached file), the width to
an even number within bounds. `exact=False` asks for the key frame at or before the time instead (cheap:
no decoding from the key frame on), which is what a scrub preview shows while the exact frame is made."""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from vidpipe.errors import MediaDecodeError
from vidpipe.ffmpeg.process import run_ffmpeg
from vidpipe.ffmpeg.safe_open import ffmpeg_input_args
from vidpipe.mediastore.base import MediaStore

MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 32, 1280, 320
FFMPEG_TIMEOUT_SECONDS = 30
# Making stills costs a decode each: a few at a time per API process, the rest wait their turn.
_MAKING = threading.BoundedSemaphore(2)


@dataclass(frozen=True)
class StillRequest:
    frame: int  # index of the frame on screen at the requested time (at `fps`)
    fps: float
    width: int
    exact: bool

    @property
    def seconds(self) -> float:
        # The middle of the frame's display interval: rounding in the decoder cannot land on a neighbour.
        return (self.frame + 0.5) / self.fps

    def key(self, asset_id: uuid.UUID) -> str:
        kind = "f" if self.exact else "k"
        return f"{asset_id}/thumbs/at/w{self.width}-{kind}{self.frame}.jpg"


def still_request(time_s: float, width: int | None, duration: float | None, fps: float | None,
                  exact: bool = True) -> StillRequest:
    """Snap a requested (time, width) to a frame and an allowed width."""
    rate = fps if fps and fps > 0 and math.isfinite(fps) else 25.0
    last = max(0, math.floor((duration or 0) * rate) - 1) if duration else None
    frame = max(0, math.floor(max(0.0, time_s) * rate + 1e-6))
    if last is not None:
        frame = min(frame, last)
    w = DEFAULT_WIDTH if width is None else max(MIN_WIDTH, min(MAX_WIDTH, int(width)))
    return StillRequest(frame=frame, fps=rate, width=w - w % 2, exact=exact)


def make_still(source: Path, req: StillRequest, out: Path, *, max_frame_pixels: int | None) -> Path:
    """Write the JPEG of `req` from `source` (the stored original) to `out`."""
    seek = ["-ss", f"{req.seconds:.4f}"] + ([] if req.exact else ["-noaccurate_seek"])
    args = [*seek, *ffmpeg_input_args(source, max_frame_pixels=max_frame_pixels)]
    args += ["-map", "0:V:0", "-frames:v", "1", "-vf", f"scale={req.width}:-2", "-q:v", "4", "-f", "mjpeg", str(out)]
    with _MAKING:
        try:
            run_ffmpeg(args, timeout=FFMPEG_TIMEOUT_SECONDS)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise MediaDecodeError(f"could not make a still at {req.seconds:.2f} s: {exc}") from exc
    if not out.is_file() or out.stat().st_size == 0:
        raise MediaDecodeError(f"no picture at {req.seconds:.2f} s")
    return out


def cached_still(blobs: MediaStore, asset_id: uuid.UUID, original_key: str, req: StillRequest, scratch: Path,
                 *, max_frame_pixels: int | None) -> str:
    """The stored key of the still, made (and stored under the asset's prefix) the first time it is asked for."""
    key = req.key(asset_id)
    if blobs.exists(key):
        return key
    work = scratch / f"still-{uuid.uuid4().hex}"
    work.mkdir(parents=True, exist_ok=True)
    try:
        with blobs.local_copy(original_key, work) as source:
            out = make_still(source, req, work / "still.jpg", max_frame_pixels=max_frame_pixels)
        blobs.put_file(key, out, "image/jpeg")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return key
