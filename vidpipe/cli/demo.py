"""`vidpipe demo`: synthetic samples → ingest → process with live progress → summary table."""

from __future__ import annotations

from rich.console import Console

from vidpipe.settings import Settings

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


def run_demo(settings: Settings, console: Console, *, long_seconds: float = 12.0) -> int:
    from vidpipe.cli.main import print_asset_table, state_assets
    from vidpipe.cli.watch import watch
    from vidpipe.ingest.service import IngestRequest, ingest_path
    from vidpipe.media import samples
    from vidpipe.queue.worker import Worker
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
            watch(rt, ids, console)
        finally:
            worker.request_stop()
            worker.join(timeout=30)
        console.print("[bold]4/4[/bold] results")
        assets = state_assets(rt, ids)
        print_asset_table(assets, settings.media_root)
        unexpected = [a.original_name for a in assets
                      if (a.status == "failed") != (a.original_name in EXPECTED_FAILED)]
        if unexpected:
            console.print(f"[red]unexpected outcome for {', '.join(unexpected)}[/red]")
            return 1
        _demo_search(rt, console)
        console.print("[green]demo finished:[/green] corrupt file failed with a reason, the rest are ready. "
                      "Run `vidpipe up` to browse them through the API.")
        return 0
    finally:
        rt.close()
