"""`vidpipe demo`: synthetic samples → ingest → process with live progress → summary table."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console

from vidpipe.settings import Settings
from vidpipe.states import AssetStatus

# What the demo expects of each sample; anything else is a failed demo (exit code 1).
EXPECTED_FAILED = {"corrupt-upload.mp4"}


DEMO_QUERY = "a trailer"


def _demo_search(rt, console: Console) -> None:
    """End with a search over what was just processed (titles, transcripts, and scenes/sounds if enabled)."""
    from vidpipe.cli.search import print_search
    from vidpipe.errors import VidpipeError
    from vidpipe.search import MODALITIES

    console.print(f"[bold]search[/bold] for {DEMO_QUERY!r} over what was just processed:")
    try:
        print_search(rt, console, DEMO_QUERY, list(MODALITIES), limit=5, group_by_asset=True)
    except VidpipeError as exc:  # e.g. a server without pgvector: say so, the demo itself succeeded
        console.print(f"[yellow]search unavailable:[/yellow] {exc.message}")


def console_url(settings: Settings) -> str:
    """Where `vidpipe up` serves the console with these settings."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + "/"
    host = settings.api_host if settings.api_host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{settings.api_port}/"


def next_steps(settings: Settings, log_file: Path) -> list[str]:
    """The demo's last lines: exactly how to open what was just made in the web console."""
    return [
        "[bold]Open the results in the web console:[/bold]",
        "  1. vidpipe keys create me     [dim]# prints an API key once; copy it[/dim]",
        "  2. vidpipe up                 [dim]# API + worker + console, on the same data[/dim]",
        f"  3. open {console_url(settings)} and sign in with the key",
        f"[dim]This run's log: {log_file}[/dim]",
    ]


def run_demo(settings: Settings, console: Console, *, long_seconds: float = 12.0) -> int:
    """The demo, with every log record in a file: the terminal shows the steps and the progress bars only."""
    log_file = settings.data_dir / "logs" / "demo.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    if saved and saved[0].formatter is not None:
        handler.setFormatter(saved[0].formatter)
    root.handlers[:] = [handler]
    try:
        code = _run_demo(settings, console, long_seconds=long_seconds, log_file=log_file)
    finally:
        root.handlers[:] = saved
        handler.close()
    if code == 0:
        for line in next_steps(settings, log_file):
            console.print(line)
    else:
        console.print(f"[dim]This run's log: {log_file}[/dim]")
    return code


def _run_demo(settings: Settings, console: Console, *, long_seconds: float, log_file: Path) -> int:
    from vidpipe.cli.common import ladder_lines, print_asset_table, state_assets
    from vidpipe.cli.watch import watch
    from vidpipe.ffmpeg import samples
    from vidpipe.ingest.service import IngestRequest, ingest_path
    from vidpipe.jobs.worker import Worker
    from vidpipe.runtime import Runtime

    sample_dir = settings.data_dir / "demo-samples"
    console.print(f"[bold]1/4[/bold] generating sample media in {sample_dir}")
    files = samples.demo_set(sample_dir, long_seconds=long_seconds)
    embedded = f"embedded PostgreSQL in {settings.embedded_pg_dir}"
    where = "the configured PostgreSQL" if settings.database_url else embedded
    console.print(f"[bold]2/4[/bold] starting the pipeline on {where}, media in {settings.media_root}")
    rt = Runtime.from_settings(settings)
    try:
        ids = []
        for f in files:
            res = ingest_path(rt, f, IngestRequest(source_kind="path", actor="demo"), roots=[sample_dir])
            ids.append(res.asset.id)
        console.print(f"[bold]3/4[/bold] processing {len(ids)} assets with {settings.worker_concurrency} job slots")
        worker = Worker(rt)
        worker.start()
        try:
            watch(rt, ids, console, log_file=log_file)
        finally:
            worker.request_stop()
            worker.join(timeout=30)
        console.print("[bold]4/4[/bold] results")
        assets = state_assets(rt, ids)
        print_asset_table(assets, settings.media_root)
        console.print("[bold]ladders[/bold] (peak bandwidth, VMAF sampled; per-title drops a rung that looks like the "
                      "one above it or saves under 20 % of its bits):")
        for line in ladder_lines(assets):
            console.print(f"  {line}", soft_wrap=True)
        unexpected = [a.original_name for a in assets
                      if (a.status == AssetStatus.FAILED) != (a.original_name in EXPECTED_FAILED)]
        if unexpected:
            console.print(f"[red]unexpected outcome for {', '.join(unexpected)}[/red]")
            return 1
        _demo_search(rt, console)
        console.print("[green]demo finished:[/green] the corrupt file failed with a reason, the rest are ready.")
        return 0
    finally:
        rt.close()
