"""Logging set up by an entry point survives the stderr it started with being swapped out and closed."""

from __future__ import annotations

import io
import logging
import sys

from vidpipe.logs import setup_logging


def test_a_closed_captured_stderr_is_never_written_to(capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    captured, real = io.StringIO(), sys.stderr
    try:
        sys.stderr = captured  # what a CLI runner does around one command
        setup_logging("INFO")
        logging.getLogger("vidpipe.test").info("during.command")
        sys.stderr = real
        captured.close()
        logging.getLogger("vidpipe.test").info("after.command", extra={"asset": "a1"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "Logging error" not in err
    assert "after.command asset=a1" in err
