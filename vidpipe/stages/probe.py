"""The probe stage: what the uploaded file is, kept with the asset for every later stage."""

from __future__ import annotations

from vidpipe.contract import StageInput, StageResult
from vidpipe.ffmpeg.probe import probe_file


def run(inp: StageInput) -> StageResult:
    """Probe the source (untrusted) and return the probe dict as `metadata["probe"]`; no outputs."""
    inp.progress(0.0)
    probe = probe_file(inp.source_path, inp.limits)
    inp.progress(1.0)
    return StageResult(metadata={"probe": probe})
