"""`vidpipe keys ...`: create (with a role), list, set-role, revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from vidpipe.errors import VidpipeError


def register(keys_app: typer.Typer) -> None:
    keys_app.command("create")(keys_create)
    keys_app.command("list")(keys_list)
    keys_app.command("set-role")(keys_set_role)
    keys_app.command("revoke")(keys_revoke)


def keys_create(name: str,
                role: Annotated[str, typer.Option(
                    help="read: metadata, search, playback; ingest: + create assets; "
                         "admin: + edit, delete, reprocess, jobs, profiles.")] = "admin") -> None:
    """Create an API key; its secret is printed once and stored only as a hash."""
    from vidpipe.cli.common import err_console, fail, open_runtime
    from vidpipe.db import apikeys

    rt = open_runtime()
    try:
        with rt.db.session() as s, s.begin():
            key = apikeys.create_key(s, name, role=role)
    except VidpipeError as exc:
        raise fail(exc) from exc
    err_console.print(f"API key [bold]{name}[/bold] (role {key.role}) created. It is shown only now; store it safely:")
    print(key.secret)
    rt.close()


def keys_list() -> None:
    """API keys: name, role, first characters, last use (never the secret)."""
    from vidpipe.cli.common import console, open_runtime
    from vidpipe.db import apikeys

    rt = open_runtime()
    with rt.db.session() as s:
        table = Table(title="API keys")
        for col in ("name", "role", "prefix", "created", "last used", "revoked"):
            table.add_column(col)
        for k in apikeys.list_keys(s):
            table.add_row(k.name, k.role, k.prefix, f"{k.created_at:%Y-%m-%d %H:%M}",
                          f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
                          f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    console.print(table)
    rt.close()


def keys_set_role(name: str, role: Annotated[str, typer.Argument(help="read, ingest or admin")]) -> None:
    """Change the role of an active key (takes effect within cache_key_ttl_seconds)."""
    from vidpipe.cli.common import console, fail, open_runtime
    from vidpipe.db import apikeys

    rt = open_runtime()
    try:
        with rt.db.session() as s, s.begin():
            done = apikeys.set_role(s, name, role)
    except VidpipeError as exc:
        raise fail(exc) from exc
    console.print(f"{name}: {'role ' + role if done else 'no such active key'}")
    rt.close()


def keys_revoke(name: str) -> None:
    """Revoke an API key."""
    from vidpipe.cli.common import console, open_runtime
    from vidpipe.db import apikeys

    rt = open_runtime()
    with rt.db.session() as s, s.begin():
        done = apikeys.revoke_key(s, name)
    console.print(f"{name}: {'revoked' if done else 'no such active key'}")
    rt.close()
