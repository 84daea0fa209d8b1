"""The bundled ffmpeg command-line binary (imageio-ffmpeg), and a runner that dies with its parent."""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import IO

_POLL_SECONDS = 0.2


@cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# A worker SIGKILLed mid-stage must not leave its ffmpeg running: the child gets PR_SET_PDEATHSIG.
# Preferably through util-linux's `setpriv --pdeathsig KILL` in front of ffmpeg: then Python spawns without a
# preexec_fn, i.e. with vfork/posix_spawn, and no fork handler of a library loaded in this multi-threaded
# worker (tokenizers, torch, ...) runs in the child, where it could deadlock before exec.
_SETPRIV = shutil.which("setpriv")
_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # fallback; resolved in the parent, never dlopen after fork


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def popen_ffmpeg(args: list[str], **kwargs) -> subprocess.Popen:
    """Start the bundled ffmpeg; the child is killed when this process dies."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    if _SETPRIV:
        return subprocess.Popen([_SETPRIV, "--pdeathsig", "KILL", "--", *command], **kwargs)
    return subprocess.Popen(command, preexec_fn=_die_with_parent, **kwargs)  # noqa: PLW1509


def run_ffmpeg(args: list[str], *, timeout: float | None = None) -> None:
    """Run ffmpeg to completion; raise CalledProcessError with its stderr tail on failure."""
    proc = popen_ffmpeg(["-loglevel", "error", "-y", *args], stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # a hung ffmpeg must not outlive the call that gave up on it
        proc.communicate()
        raise
    if proc.returncode != 0:
        tail = err[-4000:].decode(errors="replace").strip()
        raise subprocess.CalledProcessError(proc.returncode, f"ffmpeg: {tail}", stderr=tail)


def ensure_parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# ffmpeg stderr fragments that mean the machine, not the input, is at fault.
_ENVIRONMENTAL = ("cannot allocate memory", "too many open files", "resource temporarily unavailable",
                  "read-only file system")
_FULL_DISK = ("no space left on device", "disk quota exceeded")
_FFMPEG_SIGNALLED = 255
_OPENING_INPUTS = "error opening input"


def ffmpeg_failure(what: str, returncode: int, stderr_text: str, *, inputs_probed: bool = False) -> Exception:
    """Our error for a failed ffmpeg run: the machine's fault (retried, or waited out) or the input's (permanent).

    `inputs_probed`: every input was opened by the probe already, with the same demuxer, so failing to open one
    now is not the input's fault.
    """
    from vidpipe.errors import MediaDecodeError, StorageFullError, TransientError

    lines = [ln.strip() for ln in stderr_text.splitlines() if ln.strip()]
    last = next((ln for ln in reversed(lines) if not ln.lower().startswith("conversion failed")),
                lines[-1] if lines else f"ffmpeg exited with {returncode}")
    lowered = stderr_text.lower()
    if any(marker in lowered for marker in _FULL_DISK):  # an outage of ours: waited out, no attempt spent
        return StorageFullError(f"{what} ran out of disk space: {last}")
    # ffmpeg that catches SIGTERM/SIGINT/SIGQUIT exits 255 ("Exiting normally, received signal 15."):
    # someone stopped it, the input is not at fault.
    interrupted = returncode < 0 or returncode == _FFMPEG_SIGNALLED or "received signal" in lowered
    if interrupted or any(marker in lowered for marker in _ENVIRONMENTAL):
        return TransientError(f"{what} interrupted by the environment: {last}")
    # ffmpeg signalled while it still opens its inputs exits 1 with "Error opening input files: Invalid data
    # found ..." and no "received signal" (that line is info-level): an input the probe opened is not bad data.
    if inputs_probed and _OPENING_INPUTS in lowered:
        return TransientError(f"{what} could not open an input the probe had opened: {last}")
    return MediaDecodeError(f"{what} failed: {last}")


def progress_fraction(line: bytes, duration: float) -> float | None:
    """The fraction done from one `-progress` line (`out_time_us=...`), or None for any other line."""
    key, _, value = line.decode(errors="replace").strip().partition("=")
    if key != "out_time_us" or duration <= 0 or not value.lstrip("-").isdigit():
        return None
    return min(1.0, max(0.0, int(value) / 1e6 / duration))


def _read_progress(stream: IO[bytes], duration: float, latest: list[float]) -> None:
    for raw in stream:  # drain stdout so ffmpeg never blocks on it; the caller's thread reports
        fraction = progress_fraction(raw, duration)
        if fraction is not None:
            latest[0] = fraction


def run_with_progress(args: list[str], *, duration: float, progress: Callable[[float], None],
                      should_stop: Callable[[], bool], what: str = "transcode") -> None:
    """Run ffmpeg (its args with `-progress pipe:1`) reporting out_time as progress; stop it on request; map
    failures to our error family. Every input was opened before with the same demuxer (the probe, or our own
    scratch file): an input it cannot open now is not bad data (`ffmpeg_failure(inputs_probed=True)`)."""
    from vidpipe.errors import JobCancelledError

    with tempfile.TemporaryFile() as err:
        proc = popen_ffmpeg(args, stdout=subprocess.PIPE, stderr=err)
        latest, reported = [0.0], 0.0
        reader = threading.Thread(target=_read_progress, args=(proc.stdout, duration, latest), daemon=True)
        reader.start()
        try:
            while proc.poll() is None:
                if should_stop():
                    raise JobCancelledError(f"{what} stopped on request")
                if latest[0] > reported:  # progress callbacks run on the caller's thread only
                    reported = latest[0]
                    progress(reported)
                time.sleep(_POLL_SECONDS)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            reader.join(timeout=5)
            if proc.stdout:
                proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise ffmpeg_failure(what, proc.returncode, err.read()[-8000:].decode(errors="replace"),
                                 inputs_probed=True)
