"""What every command shares: the consoles, settings and runtime as an entry point builds them, failing cleanly."""

from __future__ import annotations

import signal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vidpipe.cli.failures import as_user_error, one_line
from vidpipe.errors import VidpipeError
from vidpipe.logs import setup_logging
from vidpipe.settings import Settings
from vidpipe.states import AssetStatus

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    settings = Settings()
    setup_logging(settings.log_level, settings.log_json)
    return prepare_settings(settings)  # secrets from Secrets Manager (only when configured), EMF on AWS


def prepare_settings(settings: Settings) -> Settings:
    """Settings as an entry point must use them (vidpipe.cloud.startup); a configuration error exits 2."""
    from vidpipe.cloud.startup import prepare_settings as prepare

    try:
        return prepare(settings)
    except VidpipeError as exc:
        err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
        raise typer.Exit(2) from exc


def open_runtime(settings: Settings | None = None, **kwargs):
    from vidpipe.runtime import Runtime

    settings = settings or load_settings()
    try:
        return Runtime.from_settings(settings, **kwargs)
    except Exception as exc:
        error = as_user_error(exc)
        if error is None:
            raise
        err_console.print(f"[red]error:[/red] {one_line(error)}")
        raise typer.Exit(2) from exc


def fail(exc: VidpipeError) -> typer.Exit:
    err_console.print(f"[red]error[/red] ({exc.code}): {exc.message}")
    return typer.Exit(1)


def install_stop_handlers(stop) -> None:
    def handler(signum, frame):  # second signal: leave now
        signal.signal(signum, signal.SIG_DFL)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def state_assets(rt, ids) -> list:
    """The assets as the API and the console show them (vidpipe.api.views, the one read of an asset)."""
    from vidpipe.api import views

    with rt.db.session() as s:
        return views.load_assets(s, list(ids), rt.settings.public_base_url)


def _stream_summary(asset) -> str:
    media = asset.media
    if media is None:
        return "-"
    parts = []
    if media.has_video:
        parts.append(f"{media.width}x{media.height} {media.video_codec}")
    if media.has_audio:
        parts.append(str(media.audio_codec))
    return ", ".join(parts)


def ladder_lines(assets) -> list[str]:
    """One line per asset with video renditions (vidpipe.api.schemas.AssetPublic): each rung's peak bandwidth and
    sampled VMAF, and whether the ladder is per-title. A per-title ladder keeps only the rungs that look different
    and save bits, so a one-rung ladder is a decision, and this says what it was made on."""
    lines = []
    for asset in assets:
        videos = [r for r in asset.renditions if r.kind == "video"]
        if not videos:
            continue
        target = next((r.quality.target_vmaf for r in videos if r.quality and r.quality.target_vmaf), None)
        how = f"per-title, target VMAF {target:g}" if target is not None else "fixed ladder"
        lines.append(f"{asset.original_name}: {', '.join(_rung_text(r) for r in videos)} ({how})")
    return lines


def _rung_text(rendition) -> str:
    rate = f" {rendition.bandwidth / 1e6:.1f} Mb/s" if rendition.bandwidth else ""
    quality = rendition.quality
    if quality is None:
        return f"{rendition.name}{rate}"
    missed = " (missed)" if quality.meets_target is False else ""
    return f"{rendition.name}{rate} VMAF {quality.vmaf:.1f}{missed}"


def print_asset_table(assets, media_root: Path | None = None) -> None:
    """Assets (vidpipe.api.schemas.AssetPublic) as a table: status, streams, renditions, output keys or why not."""
    caption = f"output keys are relative to the media store at {media_root}" if media_root else None
    table = Table(title="vidpipe assets", caption=caption)
    for col in ("asset", "name", "status", "duration", "streams", "renditions", "outputs / reason"):
        table.add_column(col, overflow="fold")
    for a in assets:
        duration = f"{a.media.duration:.1f}s" if a.media and a.media.duration else "-"
        renditions = ", ".join(r.name for r in a.renditions) or "-"
        if a.status == AssetStatus.FAILED:
            where = f"[red]{a.error.message if a.error else 'failed'}[/red]"
        else:
            keys = {art.kind: art.key for art in reversed(a.artifacts)}  # the first of each kind
            where = "\n".join(f"{label}: {keys[kind]}" for label, kind in
                              (("HLS", "hls_master"), ("poster", "poster"), ("sprites", "sprite_vtt"),
                               ("waveform", "waveform")) if kind in keys) or "-"
        style = {AssetStatus.READY: "green", AssetStatus.FAILED: "red"}.get(a.status, "yellow")
        table.add_row(str(a.id)[:8], a.original_name, f"[{style}]{a.status}[/{style}]", duration,
                      _stream_summary(a), renditions, where)
    console.print(table)
