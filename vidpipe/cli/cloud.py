"""Commands of the cloud adapters: `consume-kinesis`, `jobs redrive`, `keys import-secret`."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from vidpipe.errors import VidpipeError


def register(app: typer.Typer, jobs_app: typer.Typer, keys_app: typer.Typer) -> None:
    app.command("consume-kinesis")(consume_kinesis)
    jobs_app.command("redrive")(jobs_redrive)
    keys_app.command("import-secret")(keys_import_secret)


def consume_kinesis(
    stream: Annotated[str | None, typer.Option(help="Stream name (default: VIDPIPE_KINESIS_STREAM).")] = None,
    start: Annotated[str, typer.Option(help="Where a shard with no checkpoint starts: TRIM_HORIZON or LATEST.")]
    = "TRIM_HORIZON",
    once: Annotated[bool, typer.Option("--once", help="Read what is there now, then exit.")] = False,
) -> None:
    """Ingest events and S3 notifications from Kinesis into assets, exactly once, until SIGTERM."""
    from vidpipe.cli.common import console, err_console, install_stop_handlers, open_runtime
    from vidpipe.cloud.clients import aws_client
    from vidpipe.ingest.kinesis import KinesisConsumer

    if start not in ("TRIM_HORIZON", "LATEST"):
        err_console.print("[red]error:[/red] --start is TRIM_HORIZON or LATEST")
        raise typer.Exit(2)
    rt = open_runtime()
    name = stream or rt.settings.cloud.kinesis_stream
    if not name:
        err_console.print("[red]error:[/red] no stream: pass --stream or set VIDPIPE_KINESIS_STREAM")
        raise typer.Exit(2)
    consumer = KinesisConsumer(rt, name, kinesis=aws_client(rt.settings, "kinesis", pool=4), start=start)
    try:
        if once:
            while consumer.poll():
                pass
        else:
            stop = threading.Event()
            install_stop_handlers(stop.set)
            console.print(f"consuming {name}; Ctrl-C to stop")
            consumer.run(stop)
    finally:
        rt.close()
    s = consumer.stats
    console.print(f"records {s.records}: {s.created} created, {s.duplicates} duplicate bytes, "
                  f"{s.replayed} replayed, {s.skipped} skipped")


def jobs_redrive() -> None:
    """Retry every dead job, and delete their messages from the dead-letter queue."""
    from vidpipe.cli.common import console, err_console, open_runtime
    from vidpipe.jobs.deadletters import redrive

    rt = open_runtime()
    try:
        result = redrive(rt)
    finally:
        rt.close()
    for job_id, why in result.not_retried.items():
        err_console.print(f"[yellow]not retried[/yellow] job {job_id}: {why}")
    where = f"; {result.messages_deleted} dead-letter message(s) removed" if rt.settings.cloud.dlq_url else ""
    console.print(f"{len(result.retried)} dead job(s) queued again{where}")


def keys_import_secret(
    secret: Annotated[str, typer.Argument(help="Secrets Manager ARN holding the key (the stack's ApiKeySecretArn).")],
    name: Annotated[str, typer.Option(help="Name of the key in vidpipe.")] = "gateway",
) -> None:
    """Accept the API key kept in Secrets Manager (stored here only as its hash; never printed)."""
    from vidpipe.cli.common import console, fail, open_runtime
    from vidpipe.cloud.secrets import read_secret
    from vidpipe.db.apikeys import import_key

    rt = open_runtime()
    try:
        value = read_secret(rt.settings, secret)
        with rt.db.session() as s, s.begin():
            outcome = import_key(s, name, value)
    except VidpipeError as exc:
        raise fail(exc) from exc
    finally:
        rt.close()
    console.print(f"API key {name}: {outcome}")
