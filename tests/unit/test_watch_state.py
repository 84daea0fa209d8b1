"""The watch folder's settle logic: a file is ingested once, after its size and mtime stop changing."""

from pathlib import Path

from vidpipe.ingest.watch import FolderState


def test_file_is_ready_only_after_it_settles_and_only_once():
    state = FolderState(settle_polls=2)
    f = Path("/in/a.mp4")
    assert state.observe({f: (100, 1)}) == []  # first sight
    assert state.observe({f: (200, 2)}) == []  # still growing
    assert state.observe({f: (200, 2)}) == [f]  # unchanged for a poll: ready
    state.mark_done(f, (200, 2))
    assert state.observe({f: (200, 2)}) == []  # done stays done
    assert state.observe({f: (300, 3)}) == []  # replaced: settles again
    assert state.observe({f: (300, 3)}) == [f]


def test_empty_and_vanished_files_are_not_ingested():
    state = FolderState(settle_polls=2)
    e, g = Path("/in/empty.mp4"), Path("/in/gone.mp4")
    state.observe({e: (0, 1), g: (5, 1)})
    assert state.observe({e: (0, 1)}) == []
    assert g not in state.pending
