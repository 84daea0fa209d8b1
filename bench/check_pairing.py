"""Does the per-title check pair the rendition's frames with the right reference frames?

    python bench/check_pairing.py

For a rotating clip at 25, 29.97 and 23.976 fps whose video starts 0, 0.2 and 0.5 s after its audio: the trials'
reference of the windows and the first frame (as the analysis keeps them), the ladder from the source at CRF 18
(no shared decode), then the check's VMAF with the lead it computes and with one frame less and more. Paired
right, the lead scores ~100 and its neighbours a few points.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidpipe.ffmpeg import hls, vmaf  # noqa: E402
from vidpipe.ffmpeg.probe import probe_file  # noqa: E402
from vidpipe.ffmpeg.process import run_ffmpeg  # noqa: E402
from vidpipe.ffmpeg.safe_open import ffmpeg_input_args  # noqa: E402
from vidpipe.profiles import Profile, Rung  # noqa: E402
from vidpipe.settings import Limits  # noqa: E402

PROFILE = Profile("pairing", (Rung(360, 900), Rung(240, 450, 64)), segment_seconds=1.0, x264_preset="ultrafast",
                  ladder_mode="per_title", target_vmaf=93.0)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="check-pairing-"))
    for rate, late in (("25", 0.0), ("30000/1001", 0.2), ("24000/1001", 0.5)):
        source = tmp / f"late-{late}.mp4"
        run_ffmpeg(["-itsoffset", str(late), "-f", "lavfi", "-i", f"testsrc2=s=640x360:r={rate}:d=3,rotate=a=t",
                    "-f", "lavfi", "-i", "sine=f=440:d=3.6", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(source)])
        plan = hls.plan_transcode(probe_file(source, Limits()), PROFILE)
        plan = dataclasses.replace(plan, rungs=tuple(dataclasses.replace(r, crf=18, cap_kbps=r.maxrate_kbps * 4)
                                                     for r in plan.rungs))
        args, windows = ffmpeg_input_args(source), vmaf.sample_windows(plan.duration)
        work = tmp / f"work-{late}"
        work.mkdir()
        frames, _ = vmaf.reference_and_trial(args, windows, head_filters=hls.video_filters(plan), video_stream="v:0",
                                             size=(plan.rungs[0].width, plan.rungs[0].height), fps=float(plan.fps),
                                             crf=26, preset="ultrafast", work=work, first_frame=work / "first.nut")
        reference = vmaf.WindowReference(frames, work / "first.nut")
        out = work / "hls"
        for rung in plan.rungs:
            (out / rung.name).mkdir(parents=True)
        run_ffmpeg(hls.build_ffmpeg_args(plan, args, out))
        lead = round((vmaf.first_timestamp(reference.first_frame) or 0.0) * float(plan.fps))
        top = out / plan.rungs[0].name / "index.m3u8"
        scores = {n: round(vmaf.rendition_vmaf(top, reference, plan, windows, work, lead_frames=n, subsample=1), 2)
                  for n in (lead - 1, lead, lead + 1)}
        print(f"{rate} fps, video {late} s late: lead {lead}; VMAF by lead {scores}", flush=True)


if __name__ == "__main__":
    main()
