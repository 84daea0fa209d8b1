"""The terminal progress display: stage clocks run only while a stage runs, log records never cross the bars."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, TimeElapsedColumn

from vidpipe.cli.watch import clock_action, logs_out_of_the_way


def test_a_stage_clock_starts_when_it_runs_and_stops_when_it_ends() -> None:
    assert clock_action("pending", started=False, stopped=False) is None
    assert clock_action("queued", started=False, stopped=False) is None
    assert clock_action("running", started=False, stopped=False) == "start"
    assert clock_action("running", started=True, stopped=False) is None
    for ending in ("succeeded", "failed", "dead", "cancelled", "skipped"):
        assert clock_action(ending, started=True, stopped=False) == "stop"
        assert clock_action(ending, started=False, stopped=False) == "start+stop"  # seen only once it ended
        assert clock_action(ending, started=True, stopped=True) is None


def test_a_stopped_clock_no_longer_counts() -> None:
    with Progress(TimeElapsedColumn(), console=Console(file=io.StringIO())) as progress:
        task = progress.add_task("probe", total=100, start=False)
        assert progress.tasks[0].elapsed is None  # waiting: no time shown
        progress.start_task(task)
        progress.update(task, completed=40)
        progress.stop_task(task)  # e.g. failed at 40 %
        first = progress.tasks[0].elapsed
        time.sleep(0.05)
        assert progress.tasks[0].elapsed == first


def test_logs_go_above_the_bars_or_to_a_file(tmp_path: Path) -> None:
    out = io.StringIO()
    root = logging.getLogger()
    before = root.handlers[:]
    log = logging.getLogger("vidpipe.test")
    with Progress(console=Console(file=out, force_terminal=True, width=100)) as progress:
        progress.add_task("probe", total=100)
        with logs_out_of_the_way(progress):
            log.warning("stage.slow")
        with logs_out_of_the_way(progress, tmp_path / "logs" / "run.log"):
            log.warning("stage.into_the_file")
    assert root.handlers == before
    assert "stage.slow" in out.getvalue()
    assert "stage.into_the_file" not in out.getvalue()
    assert "stage.into_the_file" in (tmp_path / "logs" / "run.log").read_text()
