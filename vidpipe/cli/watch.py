"""Live progress of assets in the terminal: a Rich bar per asset and stage, read from the database."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from vidpipe.runtime import Runtime
from vidpipe.stages import registry
from vidpipe.store import assets as asset_store
from vidpipe.store.models import Asset

TERMINAL = {"ready", "failed"}


@dataclass
class AssetProgress:
    asset: Asset
    stages: dict[str, tuple[str, float]]  # stage -> (status, fraction)

    def stage_state(self, stage: str) -> tuple[str, float]:
        if stage in self.stages:
            return self.stages[stage]
        return ("skipped" if self.asset.status == "failed" else "pending", 0.0)


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


def watch(rt: Runtime, ids: list[uuid.UUID], console: Console, *, timeout: float | None = None,
          poll: float = 0.3) -> list[AssetProgress]:
    """Show progress until every asset is ready or failed (or the timeout passes); returns the last state."""
    columns = (TextColumn("{task.description}", style="bold"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    tasks: dict[tuple[uuid.UUID, str], TaskID] = {}
    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress(*columns, console=console, transient=False) as progress:
        while True:
            state = snapshot(rt, ids)
            for item in state:
                for stage in registry.STAGES:
                    status, fraction = item.stage_state(stage)
                    key = (item.asset.id, stage)
                    if key not in tasks:
                        label = f"{item.asset.original_name[:28]:<28} {stage:<10}"
                        tasks[key] = progress.add_task(label, total=100, status=status)
                    done = 100 if status == "succeeded" else fraction * 100
                    progress.update(tasks[key], completed=done, status=status)
            if all(item.asset.status in TERMINAL for item in state):
                return state
            if deadline is not None and time.monotonic() > deadline:
                return state
            time.sleep(poll)

