"""Watch folder against a real database: files dropped in are ingested once, rejects don't stop it."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from vidpipe.db.models import Asset
from vidpipe.ffmpeg import samples
from vidpipe.ingest.watch import watch_folder


def test_watch_folder_ingests_new_files_once(runtime, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    samples.make_audio(inbox / "first.wav", seconds=1)
    (inbox / "notes.txt").write_text("not media")  # not a media extension: ignored
    samples.make_random_bytes(inbox / "empty-later.mp4", size=0)
    seen = []
    stop = threading.Event()
    t = threading.Thread(target=watch_folder, args=(runtime, inbox),
                         kwargs={"interval": 0.1, "stop": stop, "on_ingested": lambda p, r: seen.append(p.name)})
    t.start()
    try:
        deadline = time.monotonic() + 20
        while "first.wav" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        samples.make_audio(inbox / "second.flac", seconds=1)
        while "second.flac" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # several more polls: nothing is ingested twice
    finally:
        stop.set()
        t.join(5)
    assert sorted(seen) == ["first.wav", "second.flac"]
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 2
        assert set(s.scalars(select(Asset.source_kind))) == {"path"}
