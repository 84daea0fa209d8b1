"""The `vidpipe` command line. Entry points build Settings once and hand a Runtime down."""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vidpipe.cli import cloud as _cloud
from vidpipe.cli import keys as _keys
from vidpipe.cli.common import (
    console,
    err_console,
    fail,
    install_stop_handlers,
    load_settings,
    open_runtime,
    print_asset_table,
    state_assets,
)
from vidpipe.cli.failures import as_user_error, one_line
from vidpipe.cli.search import search_command
from vidpipe.errors import VidpipeError
from vidpipe.states import AssetStatus, JobStatus

app = typer.Typer(help="vidpipe: ingest, process, store and serve video and audio.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
jobs_app = typer.Typer(help="Inspect and steer the work queue.", invoke_without_command=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.command("search")(search_command)

# --- running ---------------------------------------------------------------------------------------
@app.command()
def worker(concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1)] = None) -> None:
    """Run a worker: claims jobs from the database and runs stages until SIGTERM."""
    from vidpipe.jobs.worker import Worker

    rt = open_runtime()
    w = Worker(rt, concurrency=concurrency)
    install_stop_handlers(w.request_stop)
    console.print(f"worker {w.worker_id} running {w.concurrency} job slot(s); Ctrl-C to stop")
    w.run_forever()
    rt.close()


@app.command()
def serve(host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option()] = None) -> None:
    """Run the REST API."""
    from vidpipe.server import serve as run_api

    rt = open_runtime(pool_size=20)
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; with the default handler that kills us
    # before rt.close() (and the embedded PostgreSQL's cleanup) runs. Our handler makes it a normal return.
    install_stop_handlers(lambda: None)
    reporting = threading.Event()
    if rt.settings.cloud.metrics_environment:  # BacklogPerTask from the API too: idle workers scale from zero on it
        from vidpipe.jobs.metrics import start_reporters

        start_reporters(rt, reporting)
    try:
        run_api(rt, host=host or rt.settings.api_host, port=port or rt.settings.api_port)
    finally:
        reporting.set()
    rt.close()


@app.command()
def up(host: Annotated[str | None, typer.Option()] = None, port: Annotated[int | None, typer.Option()] = None,
       concurrency: Annotated[int | None, typer.Option("--concurrency", "-c", min=1)] = None) -> None:
    """Run the API and a worker together (the one-machine default)."""
    from vidpipe.jobs.worker import Worker
    from vidpipe.server import serve as run_api

    rt = open_runtime(pool_size=20)
    w = Worker(rt, concurrency=concurrency)
    # uvicorn re-raises the stop signal after its shutdown: route it to the worker, not to the default
    # handler (which would kill the process before running jobs are released).
    install_stop_handlers(w.request_stop)
    w.start()
    try:
        run_api(rt, host=host or rt.settings.api_host, port=port or rt.settings.api_port)
    finally:
        w.request_stop()
        w.join(timeout=30)
        rt.close()


# --- ingest and status -------------------------------------------------------------------------------
@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
           wait: Annotated[bool, typer.Option("--wait", help="Show progress until processed.")] = False,
           profile: Annotated[str | None, typer.Option(help="Processing profile: standard, mobile, preview.")] = None,
           title: Annotated[str | None, typer.Option()] = None,
           tag: Annotated[list[str] | None, typer.Option("--tag")] = None,
           priority: Annotated[int, typer.Option()] = 0) -> None:
    """Ingest local files or folders (the given paths become this command's import roots)."""
    from vidpipe.cli.watch import watch
    from vidpipe.ingest.paths import iter_import_files
    from vidpipe.ingest.service import IngestRequest, ingest_path

    rt = open_runtime()
    # The operator names these paths on the command line, so they are trusted as roots for this run.
    roots = [p.resolve() for p in paths]
    roots = [r if r.is_dir() else r.parent for r in roots]
    ids: list[uuid.UUID] = []
    failures = 0
    for raw in paths:
        try:
            files = list(iter_import_files(raw, roots))
        except VidpipeError as exc:
            err_console.print(f"[red]skipped[/red] {raw}: {exc.message}")
            failures += 1
            continue
        for f in files:
            req = IngestRequest(source_kind="path", title=title, tags=tag or [], profile=profile,
                                priority=priority, actor="cli")
            try:
                res = ingest_path(rt, f, req, roots=roots)
            except Exception as exc:  # one line per failed file, then on with the rest of the folder
                error = as_user_error(exc) or VidpipeError(f"unexpected {type(exc).__name__}: {exc}",
                                                           code="internal")
                verb = "rejected" if not error.retryable else "failed"
                err_console.print(f"[red]{verb}[/red] {f.name}: {one_line(error)} ({error.code})")
                failures += 1
                continue
            note = " (already known: same bytes)" if res.duplicate else ""
            console.print(f"{res.asset.id}  {f.name}{note}")
            ids.append(res.asset.id)
    if wait and ids:
        state = watch(rt, ids, console)
        print_asset_table(state_assets(rt, [s.asset.id for s in state]))
    rt.close()
    raise typer.Exit(1 if failures else 0)


@app.command()
def watch(folder: Annotated[Path, typer.Argument(help="Folder to watch for new media files.")],
          interval: Annotated[float, typer.Option(help="Seconds between scans.")] = 2.0,
          profile: Annotated[str | None, typer.Option()] = None) -> None:
    """Watch a folder and ingest every media file that appears in it, once fully written."""
    import threading

    from vidpipe.ingest.watch import watch_folder

    rt = open_runtime()
    stop = threading.Event()
    install_stop_handlers(stop.set)
    console.print(f"watching {folder.resolve()} every {interval:g}s; Ctrl-C to stop")
    watch_folder(rt, folder, interval=interval, profile=profile, stop=stop,
                 on_ingested=lambda p, r: console.print(f"{r.asset.id}  {p.name}"
                                                        + (" (already known)" if r.duplicate else "")))
    rt.close()


@app.command()
def status(asset_id: Annotated[str | None, typer.Argument(help="An asset id (or its first characters).")] = None,
           limit: Annotated[int, typer.Option()] = 20) -> None:
    """Show one asset in detail, or the most recent assets."""
    from sqlalchemy import String, cast, select

    from vidpipe.api import views
    from vidpipe.db.models import Asset

    rt = open_runtime()
    with rt.db.session() as s:
        if asset_id is None:
            recent = list(s.scalars(select(Asset.id).order_by(Asset.created_at.desc()).limit(limit)))
            print_asset_table(views.load_assets(s, recent, rt.settings.public_base_url), rt.settings.media_root)
            return
        matches = list(s.scalars(select(Asset.id).where(cast(Asset.id, String).startswith(asset_id.lower()))
                                 .limit(2)))
        if len(matches) != 1:
            err_console.print(f"[red]error:[/red] {'no' if not matches else 'more than one'} asset matches {asset_id}")
            raise typer.Exit(1)
        asset = views.load_asset(s, matches[0], rt.settings.public_base_url)
    print_asset_table([asset], rt.settings.media_root)
    stages = Table(title="stages")
    for col in ("stage", "status", "progress", "attempts", "last error"):
        stages.add_column(col)
    for stage in asset.stages:
        stages.add_row(stage.stage, stage.status, f"{stage.progress_percent:.0f}%", str(stage.attempts),
                       stage.last_error or "")
    console.print(stages)
    rt.close()


@app.command()
def reprocess(asset_id: Annotated[str | None, typer.Argument(help="Asset id; omit with --missing.")] = None,
              stage: Annotated[str, typer.Option("--stage", "-s")] = "probe",
              missing: Annotated[bool, typer.Option("--missing", help="Every asset missing this stage.")] = False,
              failed: Annotated[bool, typer.Option("--failed", help="Every failed asset, from the first stage "
                                                                     "(after an upgrade).")] = False,
              ) -> None:
    """Re-run a stage (and what depends on it) without re-uploading."""
    from vidpipe.jobs.reprocess import assets_missing_stage, failed_assets, reprocess_asset

    rt = open_runtime()
    if (asset_id is not None) + missing + failed != 1:
        err_console.print("[red]error:[/red] give one of: an asset id, --missing, --failed")
        raise typer.Exit(2)
    try:
        with rt.db.session() as s, s.begin():
            if failed:
                targets = failed_assets(s)
            else:
                targets = assets_missing_stage(s, stage) if missing else [uuid.UUID(asset_id)]
            for target in targets:
                reprocess_asset(s, target, stage, actor="cli", max_attempts=rt.settings.queue.max_attempts)
    except VidpipeError as exc:
        raise fail(exc) from exc
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] not an asset id: {asset_id}")
        raise typer.Exit(2) from exc
    console.print(f"queued {stage} for {len(targets)} asset(s)")
    rt.close()


# --- jobs ---------------------------------------------------------------------------------------------
@jobs_app.callback()
def jobs_list(ctx: typer.Context, dead: Annotated[bool, typer.Option("--dead", help="Only dead jobs.")] = False,
              status_filter: Annotated[str | None, typer.Option("--status")] = None,
              limit: Annotated[int, typer.Option()] = 30) -> None:
    """List jobs (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy import select

    from vidpipe.db.models import Job

    rt = open_runtime()
    with rt.db.session() as s:
        q = select(Job).order_by(Job.id.desc()).limit(limit)
        wanted = JobStatus.DEAD if dead else status_filter
        if wanted:
            q = q.where(Job.status == wanted)
        table = Table(title="jobs")
        for col in ("id", "asset", "stage", "status", "attempts", "progress", "last error"):
            table.add_column(col, overflow="fold")
        for j in s.scalars(q):
            table.add_row(str(j.id), str(j.asset_id)[:8], j.stage, j.status, f"{j.attempts}/{j.max_attempts}",
                          f"{j.progress * 100:.0f}%", j.last_error or "")
    console.print(table)
    rt.close()


@jobs_app.command("retry")
def jobs_retry(job_id: int) -> None:
    """Requeue a dead, failed or cancelled job."""
    from vidpipe.db import assets as asset_store
    from vidpipe.jobs import queue as queue_jobs

    rt = open_runtime()
    try:
        with rt.db.session() as s, s.begin():
            job = queue_jobs.retry(s, job_id, actor="cli")
            if job.asset_id:
                asset_store.set_status(s, asset_store.get_asset(s, job.asset_id, lock=True), AssetStatus.PROCESSING,
                                       actor="cli")
    except VidpipeError as exc:
        raise fail(exc) from exc
    console.print(f"job {job_id} queued again")
    rt.close()


@jobs_app.command("cancel")
def jobs_cancel(job_id: int) -> None:
    """Cancel a queued job, or ask a running one to stop."""
    from vidpipe.jobs import queue as queue_jobs

    rt = open_runtime()
    try:
        with rt.db.session() as s, s.begin():
            job = queue_jobs.cancel(s, job_id, actor="cli")
    except VidpipeError as exc:
        raise fail(exc) from exc
    console.print(f"job {job_id}: {'cancelled' if job.status == JobStatus.CANCELLED else 'asked to stop'}")
    rt.close()


# --- db and keys ----------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (creates the vector extension where the server has it)."""
    from vidpipe.db import migrate
    from vidpipe.db.database import resolve_database_url

    settings = load_settings()
    url = resolve_database_url(settings)
    migrate.upgrade(url)
    console.print(f"database at revision {migrate.current_revision(url)}")


@app.command()
def demo(seconds: Annotated[float, typer.Option(help="Length of the 1080p sample.")] = 12.0) -> None:
    """Generate sample media, process it on the embedded default and print what came out."""
    from vidpipe.cli.demo import run_demo

    code = run_demo(load_settings(), console, long_seconds=seconds)
    raise typer.Exit(code)



_keys.register(keys_app)
_cloud.register(app, jobs_app, keys_app)


def main() -> None:  # pragma: no cover
    try:
        app()
    except VidpipeError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        sys.exit(1)
