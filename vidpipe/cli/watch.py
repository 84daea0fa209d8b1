"""Live progress of assets in the terminal: a Rich bar per asset and stage, read from the database."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from vidpipe.db import assets as asset_store
from vidpipe.db.models import Asset
from vidpipe.runtime import Runtime
from vidpipe.stages import registry
from vidpipe.states import TERMINAL_ASSET_STATUSES, AssetStatus, JobStatus

TERMINAL = TERMINAL_ASSET_STATUSES


@dataclass
class AssetProgress:
    asset: Asset
    stages: dict[str, tuple[str, float]]  # stage -> (status, fraction)

    def stage_state(self, stage: str) -> tuple[str, float]:
        if stage in self.stages:
            return self.stages[stage]
        return ("skipped" if self.asset.status == AssetStatus.FAILED else "pending", 0.0)


def snapshot(rt: Runtime, ids: list[uuid.UUID]) -> list[AssetProgress]:
    with rt.db.session() as s:
        found = {a.id: a for a in s.scalars(select(Asset).where(Asset.id.in_(ids)))}
        out = []
        for asset_id in ids:
            asset = found.get(asset_id)
            if asset is None:
                continue
            latest = asset_store.latest_stage_status(s, asset_id)
            out.append(AssetProgress(asset, {name: (j.status, j.progress) for name, j in latest.items()}))
        return out


# A stage's clock runs while it runs: it starts when the stage is first seen past "queued"/"pending" and stops
# when the stage ends, whatever the ending (Rich's elapsed column would otherwise count from the bar's creation
# to the end of the whole run).
WAITING = {"pending", "queued"}
STAGE_ENDED = {"succeeded", "failed", "dead", "cancelled", "skipped"}


def clock_action(status: str, started: bool, stopped: bool) -> str | None:
    """What a stage's clock should do on seeing `status`: "start", "stop", "start+stop" or nothing."""
    if status in WAITING or stopped:
        return None
    if status in STAGE_ENDED:
        return "stop" if started else "start+stop"
    return None if started else "start"


class _AboveTheBars(logging.Handler):
    """Log records printed through the progress display's console: above the bars, never across them."""

    def __init__(self, progress: Progress, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.progress = progress
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.progress.console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 - a log line must never break the display
            self.handleError(record)


@contextmanager
def logs_out_of_the_way(progress: Progress, log_file: Path | None = None) -> Iterator[None]:
    """While the bars show: log records go to `log_file` (when given) or above the bars, not over them."""
    root = logging.getLogger()
    saved = root.handlers[:]
    formatter = saved[0].formatter if saved else None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
        if formatter is not None:
            handler.setFormatter(formatter)
    else:
        handler = _AboveTheBars(progress, formatter)
    root.handlers[:] = [handler]
    try:
        yield
    finally:
        root.handlers[:] = saved
        handler.close()


def watch(rt: Runtime, ids: list[uuid.UUID], console: Console, *, timeout: float | None = None,
          poll: float = 0.3, log_file: Path | None = None) -> list[AssetProgress]:
    """Show progress until every asset is ready or failed (or the timeout passes); returns the last state."""
    columns = (TextColumn("{task.description}", style="bold"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    tasks: dict[tuple[uuid.UUID, str], TaskID] = {}
    clocks: dict[TaskID, tuple[bool, bool]] = {}  # task -> (started, stopped)
    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress(*columns, console=console, transient=False) as progress, logs_out_of_the_way(progress, log_file):
        while True:
            state = snapshot(rt, ids)
            for item in state:
                for stage in registry.STAGES:
                    status, fraction = item.stage_state(stage)
                    key = (item.asset.id, stage)
                    if key not in tasks:
                        label = f"{item.asset.original_name[:28]:<28} {stage:<10}"
                        tasks[key] = progress.add_task(label, total=100, status=status, start=False)
                        clocks[tasks[key]] = (False, False)
                    task = tasks[key]
                    started, stopped = clocks[task]
                    action = clock_action(status, started, stopped)
                    if action and action.startswith("start"):
                        progress.start_task(task)
                        started = True
                    done = 100 if status == JobStatus.SUCCEEDED else fraction * 100
                    progress.update(task, completed=done, status=status)
                    if action and action.endswith("stop"):
                        progress.stop_task(task)
                        stopped = True
                    clocks[task] = (started, stopped)
            if all(item.asset.status in TERMINAL for item in state):
                return state
            if deadline is not None and time.monotonic() > deadline:
                return state
            time.sleep(poll)
