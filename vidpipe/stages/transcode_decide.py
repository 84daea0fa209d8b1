"""The per-title decision of a long video as a job of its own (vidpipe.stages.transcode.decide)."""

from vidpipe.stages.transcode import decide as run

__all__ = ["run"]
