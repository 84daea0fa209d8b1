"""Per-title on every video shape of the format matrix: the trials' estimate for the top rung against the
rendition's own check, per sample, so a mispairing (a score far from its estimate) or a correction that goes the
wrong way shows up on media we did not shape for the bench.

    python bench/per_title_formats.py [sample ...]

Builds the samples of tests/formats/corpus.py (cached like the tests' media) and runs the real transcode stage
with the standard profile (per-title) on each; prints the decision's CRF, the estimate, the checks and where the
report's top-rung VMAF comes from (`rendition` or, when the check was not believed or not run, `trials`).
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.formats import corpus  # noqa: E402
from tests.media_cache import default_cache_dir  # noqa: E402
from vidpipe.contract import StageInput  # noqa: E402
from vidpipe.ffmpeg.probe import probe_file  # noqa: E402
from vidpipe.profiles import get_profile  # noqa: E402
from vidpipe.settings import Limits  # noqa: E402
from vidpipe.stages import transcode  # noqa: E402


def main() -> None:
    wanted = set(sys.argv[1:])
    for sample in corpus.SAMPLES:
        if wanted and sample.name not in wanted:
            continue
        source = corpus.build(sample, default_cache_dir())
        with tempfile.TemporaryDirectory() as tmp:
            probe = probe_file(source, Limits())
            result = transcode.run(StageInput(uuid.uuid4(), source, Path(tmp), get_profile("standard"), Limits(),
                                              probe=probe))
        decision = result.metadata.get("ladder_decision", {})
        if decision.get("mode") != "per_title":
            continue  # audio only
        top = next(iter(result.metadata["quality"].values()))
        estimate = decision["rungs"][0]["display_vmaf"]
        print(f"{sample.name:24s} fps {result.metadata['fps']:g}  crf {decision['crf']:g}  estimate {estimate:.1f}  "
              f"checks {[(c['crf'], c['vmaf']) for c in decision.get('rendition_checks', [])]}  "
              f"report from {top.get('measured_on')}", flush=True)


if __name__ == "__main__":
    main()
