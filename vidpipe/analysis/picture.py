"""One decoded frame at analysis size, converted once for every video analyzer.

Most analyzers only look at brightness (cut thumbnails, black frames, perceptual hashes, key-frame
sharpness), so the pass hands them the luma plane straight from the decoder (8-bit YUV at the analysis
size: no colour conversion at all) and converts to RGB only when an analyzer asks (`rgb()`, e.g. the scene
key-frame candidates, a few per second). On small videos the per-frame YUV -> RGB conversion cost twice the
decode itself, so this matters. `small` (every 4th row and column) is shared by the per-frame analyzers.

Luma is full range (0-255), BT.601 weights when it comes from RGB; limited-range video (16-235, the usual
case) is stretched to full range so that thresholds mean the same whatever the source.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Planar/semi-planar 8-bit YUV: plane 0 is the luma, one byte per pixel.
_YUV8 = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21",
                   "yuv410p", "yuv411p", "yuv440p", "yuvj440p"})
_FULL_RANGE_FORMATS = frozenset({"yuvj420p", "yuvj422p", "yuvj444p", "yuvj440p"})
_JPEG_RANGE = 2  # AVCOL_RANGE_JPEG
# Limited range (16-235) to full range (0-255), rounded.
_LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)


def limited_to_full(values: np.ndarray, unit: float = 255.0) -> np.ndarray:
    """Values in limited range (16-235 of 0..unit) to full range (0..unit), clipped, dtype kept."""
    return np.clip((values - 16 * unit / 255) * (255 / 219), 0, unit).astype(values.dtype, copy=False)


def rgb_luma(rgb: np.ndarray) -> np.ndarray:
    """Full-range luma (BT.601 integer weights 77/150/29 of 256) of an RGB uint8 picture."""
    wide = rgb.astype(np.uint16)
    return ((wide[..., 0] * 77 + wide[..., 1] * 150 + wide[..., 2] * 29) >> 8).astype(np.uint8)


def _plane(frame: Any) -> np.ndarray:
    """Plane 0 of an 8-bit YUV frame as a (height, width) uint8 view (it keeps the frame's buffer alive)."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


class Picture:
    """A frame for the video analyzers: `luma` (H, W) uint8 full range, `small` = luma[::4, ::4], `rgb()`."""

    __slots__ = ("_converted", "_direct", "_frame", "_full", "_luma", "_raw", "_reformat", "_rgb", "_small",
                 "_small_raw", "rotation")

    def __init__(self, *, luma: np.ndarray | None = None, rgb: np.ndarray | None = None, frame: Any = None,
                 reformat: Any = None, rotation: int = 0) -> None:
        self._luma, self._rgb, self._frame, self._reformat = luma, rgb, frame, reformat
        self._small: np.ndarray | None = None
        self._small_raw: np.ndarray | None = None
        self._raw: np.ndarray | None = None  # the decoder's luma plane (a view), range not yet stretched
        self._full = True
        self._converted = False
        self._direct = False  # luma straight from the decoded frame, which is at the analysis size
        self.rotation = rotation

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> Picture:
        return cls(rgb=rgb)

    @classmethod
    def from_frame(cls, frame: Any, size: tuple[int, int], rotation: int, reformat: Any, rgb_reformat: Any
                   ) -> Picture:
        """`frame` (an av.VideoFrame) at `size` (pre-rotation width, height): its luma plane when it is 8-bit YUV
        of that size, else swscale to yuv420p at that size first (one small conversion, luma only used).
        `reformat(frame, fmt)` scales/converts to the analysis size on this thread; `rgb_reformat` does the same
        on the analyzers' thread (swscale contexts are not shared between threads), for `rgb()` on demand."""
        fmt = frame.format.name
        direct = False
        if fmt not in _YUV8 or (frame.width, frame.height) != size:
            converted = reformat(frame, "yuv420p")
            luma, full = _plane(converted), converted.color_range == _JPEG_RANGE
        else:
            luma, full = _plane(frame), fmt in _FULL_RANGE_FORMATS or frame.color_range == _JPEG_RANGE
            direct = True
        if rotation:
            luma = np.rot90(luma, k=rotation // 90)
        picture = cls(frame=frame, reformat=rgb_reformat, rotation=rotation)
        picture._raw, picture._full, picture._direct = luma, full, direct
        return picture

    def _stretch(self, raw: np.ndarray) -> np.ndarray:
        raw = np.ascontiguousarray(raw)  # np.take over a contiguous array: ~2x a fancy index of the strided plane
        return raw if self._full else np.take(_LIMITED_TO_FULL, raw)

    @property
    def small_raw(self) -> np.ndarray:
        """luma[::4, ::4] as decoded: limited range (16-235) unless `full_range`. Per-frame analyzers work on
        these values and convert their few results (`stretch`, `raw_level`): stretching every pixel of every
        frame would cost more than the analysis itself."""
        if self._raw is None:
            return self.small
        if self._small_raw is None:
            self._small_raw = np.ascontiguousarray(self._raw[::4, ::4])
        return self._small_raw

    def luma_half(self) -> np.ndarray:
        """Every 2nd row and column of the luma as float32 0-255 (stretched as floats: a quarter of the pixels and
        no table look-up, for the few frames per second that need more than thumbnails)."""
        if self._raw is None or self._luma is not None:
            return self.luma[::2, ::2].astype(np.float32)
        gray = self._raw[::2, ::2].astype(np.float32)
        if not self._full:
            gray -= 16
            gray *= 255 / 219
            np.clip(gray, 0, 255, out=gray)
        return gray

    @property
    def full_range(self) -> bool:
        return self._raw is None or self._full

    def stretch(self, values: np.ndarray, unit: float = 255.0) -> np.ndarray:
        """Values measured on `small_raw` (0..unit) to full range (0..unit), clipped."""
        return values if self.full_range else limited_to_full(values, unit)

    def raw_level(self, level: float) -> float:
        """A full-range level (0-255) in `small_raw`'s units."""
        return level if self.full_range else 16 + level * 219 / 255

    @property
    def luma(self) -> np.ndarray:
        if self._luma is None:
            self._luma = self._stretch(self._raw) if self._raw is not None else rgb_luma(self.rgb())
        return self._luma

    @property
    def small(self) -> np.ndarray:
        """Every 4th row and column of the luma: enough samples for thumbnails and black-frame tests (made from
        the decoder's plane directly: the per-frame analyzers never pay for the full-size luma)."""
        if self._small is None:
            if self._luma is None and self._raw is not None:
                self._small = self._stretch(self._raw[::4, ::4])
            else:
                self._small = np.ascontiguousarray(self.luma[::4, ::4])
        return self._small

    @property
    def direct(self) -> bool:
        """The decoded frame is already at the analysis size: keeping this picture costs no more than its RGB."""
        return self._direct

    @property
    def owns_rgb(self) -> bool:
        """True when `rgb()` is this picture's own conversion (keeping it needs no copy), not a caller's array."""
        return self._frame is not None or self._converted

    @property
    def shape(self) -> tuple[int, int]:
        height, width = self.luma.shape[:2]
        return height, width

    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB, upright, converted on first use and kept."""
        if self._rgb is None:
            rgb = self._reformat(self._frame, "rgb24").to_ndarray()
            if self.rotation:
                rgb = np.ascontiguousarray(np.rot90(rgb, k=self.rotation // 90))
            self._rgb, self._converted = rgb, True
            self._frame = None  # nothing else needs the decoded frame
        return self._rgb
