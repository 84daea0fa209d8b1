"""`vidpipe search "..."`: the same clip-level search as GET /v1/search, printed as a table."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from vidpipe.errors import VidpipeError
from vidpipe.search.floors import FLOORS


def _fmt_time(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{secs:04.1f}"


def search_command(
    query: Annotated[str, typer.Argument(help="what to find, in words")],
    modality: Annotated[str, typer.Option(help="visual | audio | speech | all")] = "all",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    group_by_asset: Annotated[bool, typer.Option("--group-by-asset", help="one row per asset")] = False,
    tag: Annotated[list[str] | None, typer.Option(help="user tag (repeatable)")] = None,
    machine_tag: Annotated[list[str] | None, typer.Option(help="model label (repeatable)")] = None,
    min_duration: Annotated[float | None, typer.Option(min=0)] = None,
    max_duration: Annotated[float | None, typer.Option(min=0)] = None,
    min_height: Annotated[int | None, typer.Option(min=0)] = None,
    since: Annotated[datetime | None, typer.Option(help="created at or after")] = None,
) -> None:
    """Search what vidpipe processed: scenes (visual), sounds (audio), transcripts and titles (speech)."""
    from vidpipe.cli.common import console, fail, open_runtime
    from vidpipe.search import MODALITIES, SearchFilters

    if modality != "all" and modality not in MODALITIES:
        raise typer.BadParameter(f"{modality!r}: use visual, audio, speech or all", param_hint="--modality")
    modalities = list(MODALITIES) if modality == "all" else [modality]
    filters = SearchFilters(min_duration=min_duration, max_duration=max_duration, min_height=min_height,
                            tags=tag or [], machine_tags=machine_tag or [], since=since)
    rt = open_runtime()
    try:
        print_search(rt, console, query, modalities, filters=filters, limit=limit, group_by_asset=group_by_asset)
    except VidpipeError as exc:
        raise fail(exc) from exc
    finally:
        rt.close()


def print_search(rt, console, query: str, modalities: list[str], *, filters=None, limit: int = 10,
                 group_by_asset: bool = False) -> int:
    """Run a search and print its hits as a table; returns the number of rows printed."""
    from vidpipe.search import SearchFilters, encode_query, search
    from vidpipe.search.index import require_vectors
    from vidpipe.search.query import query_embedders

    with rt.db.session() as session:
        require_vectors(session)
        embedders, status = query_embedders(rt.settings, modalities)
        vectors, unavailable = encode_query(query, embedders, modalities, status)
        page = search(session, vectors, filters=filters or SearchFilters(), limit=limit, group_by_asset=group_by_asset,
                      floors=FLOORS)
        titles = dict(session.execute(_titles_sql(), {"ids": list({h.asset_id for h in page.hits})}).all()) \
            if page.hits else {}
    table = Table(title=f"search: {query}")
    for column in ("score", "asset", "title", "from", "to", "modality", "match"):
        table.add_column(column, justify="right" if column in ("score", "from", "to") else "left")
    rows = [g.hits[0] for g in page.groups] if page.groups is not None else page.hits
    for h in rows:
        table.add_row(f"{h.score:.3f}", str(h.asset_id)[:8], titles.get(h.asset_id, ""), _fmt_time(h.start),
                      _fmt_time(h.end), h.modality, (h.text or h.kind)[:60])
    console.print(table)
    for m, why in unavailable.items():
        console.print(f"[yellow]{m} not searched:[/yellow] {why}")
    if not rows:
        console.print("no matches")
    return len(rows)


def _titles_sql():
    from sqlalchemy import bindparam, text
    from sqlalchemy.dialects.postgresql import ARRAY, UUID

    return text("SELECT id, title FROM assets WHERE id = ANY(:ids)").bindparams(
        bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))
