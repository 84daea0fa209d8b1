"""Bad input through the real CLI and worker: each file fails once with a readable reason, nothing is retried,
and the worker goes on to process a good file queued behind them."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.acceptance.conftest import all_terminal, child_env, events_of, ingest_file, jobs_of, wait_for
from vidpipe.db.models import Asset
from vidpipe.ffmpeg import samples

pytestmark = pytest.mark.slow

UUID_RE = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s+(\S.*)$", re.M)
TRACEBACK_HINTS = ("Traceback", 'File "', ".py\"", "line ", "<module>", "Error(", "root:x:0:0")
EVIL_NAME = "../../etc/\x1b[31mcron\x07.d\r\n\x00evil.mp4"

# file name -> (error code, what the reason must say)
EXPECTED = {
    "truncated.mp4": ("media_decode_error", "truncated"),
    "random.mp4": ("media_decode_error", "not a readable video or audio file"),
    "notes.txt": ("unsupported_media", "detected format: text"),
    "still.png": ("unsupported_media", "still image is not a video"),
    "huge-30000.mkv": ("limit_exceeded", "pixel limit"),
    "playlist.mp4": ("playlist_not_accepted", "upload the media file itself"),
}


@pytest.fixture
def bad_files(tmp_path: Path, media) -> dict[str, Path]:
    d = tmp_path / "incoming"
    d.mkdir()
    files = {
        "truncated.mp4": media.truncated("h264_720p", 0.3),
        "random.mp4": media.get("random_mp4"),
        "still.png": media.get("still_png"),
        "huge-30000.mkv": media.get("huge_header"),
    }
    out = {}
    for name, src in files.items():
        out[name] = d / name
        out[name].write_bytes(src.read_bytes())
    out["notes.txt"] = d / "notes.txt"
    out["notes.txt"].write_text("Subject: my holiday video\n\nSee attached.\n")
    out["playlist.mp4"] = d / "playlist.mp4"
    out["playlist.mp4"].write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    return out


def _ingest_cli(procs, env, paths: list[Path]):
    res = procs.run(["ingest", "--profile", "preview", *map(str, paths)], env, timeout=60)
    found = {name.strip(): uuid.UUID(i) for i, name in UUID_RE.findall(res.stdout)}
    return res, found


def test_bad_inputs_fail_once_with_a_reason_and_the_worker_keeps_serving(settings, runtime, procs, bad_files,
                                                                        tmp_path) -> None:
    env = child_env(settings)

    # Zero bytes: refused at ingest, non-zero exit, a clear message, nothing stored.
    empty = tmp_path / "incoming" / "empty.mp4"
    empty.write_bytes(b"")
    res = procs.run(["ingest", "--profile", "preview", str(empty)], env, timeout=60)
    assert res.returncode == 1, res
    assert "empty.mp4" in res.stderr and "empty (0 bytes)" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 0
    assert sorted(p.name for p in settings.media_root.iterdir()) == [".incoming"]
    assert not list((settings.media_root / ".incoming").iterdir())

    # Everything else is accepted at ingest (what it is only shows when it is probed) ...
    res, ids = _ingest_cli(procs, env, list(bad_files.values()))
    assert res.returncode == 0, res
    assert set(ids) == set(EXPECTED)
    # ... including a hostile file name, as an upload would bring it.
    evil_src = samples.make_random_bytes(tmp_path / "evil-src.bin", seed=99)
    evil_id = ingest_file(runtime, evil_src, name=EVIL_NAME)
    # A good file queued behind all of them.
    good = samples.make_video(tmp_path / "incoming" / "good.mp4", width=320, height=180, seconds=1)
    res, good_ids = _ingest_cli(procs, env, [good])
    assert res.returncode == 0, res
    good_id = good_ids["good.mp4"]

    worker = procs.spawn(["worker", "-c", "1"], env, name="worker")
    everything = [*ids.values(), evil_id, good_id]
    wait_for(lambda: all_terminal(runtime, everything), timeout=120, interval=0.3, what="all assets to finish",
             procs=[worker])

    with runtime.db.session() as s:
        assets = {a.id: a for a in s.scalars(select(Asset).where(Asset.id.in_(everything)))}
    assert assets[good_id].status == "ready", assets[good_id].error_message
    failed = {name: assets[i] for name, i in ids.items()} | {"evil": assets[evil_id]}
    for name, asset in failed.items():
        assert asset.status == "failed", name
        message = asset.error_message or ""
        assert len(message) > 10, (name, message)
        for hint in TRACEBACK_HINTS:
            assert hint not in message, (name, message)
        if name in EXPECTED:
            code, text = EXPECTED[name]
            assert asset.error_code == code, (name, asset.error_code, message)
            assert text in message, (name, message)
        # Probed once, failed permanently, nothing after it was queued, no retry was scheduled.
        jobs = jobs_of(runtime, asset.id)
        assert [(j.stage, j.status, j.attempts) for j in jobs] == [("probe", "failed", 1)], (name, jobs)
        assert not events_of(runtime, asset_id=asset.id, event="job.retry_scheduled")

    # The hostile name is stored sanitised and was never used as a path.
    evil = assets[evil_id]
    assert "/" not in evil.original_name and ".." not in evil.original_name
    assert not any(ord(c) < 32 or c == "\x7f" for c in evil.original_name), repr(evil.original_name)
    assert evil.original_key == f"{evil_id}/original"
    stored = {p.name for p in settings.media_root.iterdir()}
    assert stored <= {".incoming"} | {str(i) for i in everything}

    assert worker.popen.poll() is None  # still serving
    assert "Traceback" not in worker.output(), worker.output()
