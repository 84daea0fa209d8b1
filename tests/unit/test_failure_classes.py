"""Which failures are the input's fault, which are ours, and what users get to read about them."""

from __future__ import annotations

import errno

from vidpipe.errors import (
    MediaDecodeError,
    StorageError,
    StorageFullError,
    TransientError,
    public_message,
    spends_attempt,
    storage_error,
)
from vidpipe.ffmpeg.process import ffmpeg_failure


def _ladder_failure(returncode: int, stderr: str) -> Exception:
    """What process.run_with_progress raises when the ladder's ffmpeg fails: its inputs were opened before."""
    return ffmpeg_failure("transcode", returncode, stderr, inputs_probed=True)



def test_ffmpeg_stopped_by_a_signal_is_an_interruption_not_bad_input():
    for code, stderr in ((255, "frame=  120 fps=60\nExiting normally, received signal 15.\n"),
                         (255, "Exiting normally, received signal 2.\n"), (255, ""), (-15, "")):
        failure = _ladder_failure(code, stderr)
        assert isinstance(failure, TransientError) and not isinstance(failure, MediaDecodeError), (code, stderr)
        assert failure.retryable and spends_attempt(failure)  # bounded: a signal may be the OOM killer


def test_ffmpeg_stopped_while_opening_a_probed_input_is_an_interruption_not_bad_input():
    # What ffmpeg 7+ prints when SIGINT/SIGTERM reaches it inside avformat_open_input (exit 1, no signal line).
    stderr = ("[in#0 @ 0x1] Error opening input: Invalid data found when processing input\n"
              "Error opening input file /srv/scratch/job-1-a1/in.mp4.\n"
              "Error opening input files: Invalid data found when processing input\n")
    failure = _ladder_failure(1, stderr)  # the ladder opens only what the probe opened
    assert isinstance(failure, TransientError) and not isinstance(failure, MediaDecodeError)
    assert failure.retryable and spends_attempt(failure)  # bounded, should the input really be unreadable
    assert str(failure) == ("transcode could not open an input the probe had opened: Error opening input files: "
                            "Invalid data found when processing input")
    # Without a probe behind it (e.g. the probe itself), the same output is the input's fault.
    assert isinstance(ffmpeg_failure("probe", 1, stderr), MediaDecodeError)


def test_a_full_scratch_disk_is_waited_out_without_spending_attempts():
    full = _ladder_failure(1, "[hls @ 0x1] /srv/scratch/job-1-a1/out/hls/360p/seg_003.ts: No space left on "
                                 "device\nav_interleaved_write_frame(): No space left on device\n")
    assert isinstance(full, StorageFullError) and full.retryable and not spends_attempt(full)


def test_os_errors_of_the_media_store():
    full = storage_error(OSError(errno.ENOSPC, "No space left on device", "/srv/media/a/b"), "could not write a/b")
    assert isinstance(full, StorageFullError) and full.code == "storage_full"
    assert str(full) == "could not write a/b: the media store is full (No space left on device)"
    other = storage_error(OSError(errno.EIO, "Input/output error"), "could not write a/b")
    assert type(other) is StorageError and "/srv" not in str(other)


def test_public_messages_lose_server_paths_but_keep_urls_and_keys():
    assert public_message("[Errno 28] No space left on device: '/var/lib/vidpipe/scratch/job-3-a1/x.ts'") == (
        "[Errno 28] No space left on device: 'x.ts'")
    assert public_message("/data/in/clip.mp4: Invalid data found when processing input") == (
        "clip.mp4: Invalid data found when processing input")
    kept = "fetch http://example.test/a/b.mp4 failed; key 1f2e/hls/master.m3u8; ratio 1/2"
    assert public_message(kept) == kept
