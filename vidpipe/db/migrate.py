"""Run Alembic migrations programmatically (`vidpipe db upgrade`, and at start-up of the embedded default)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from vidpipe.db.database import normalize_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    # "heads": features add their tables as independent branches off the base schema.
    command.upgrade(alembic_config(url), revision)


def current_revisions(url: str) -> set[str]:
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The applied revision(s), comma-separated; None for an empty database."""
    revs = current_revisions(url)
    return ",".join(sorted(revs)) if revs else None


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("postgresql://localhost/x")).get_heads())


def is_up_to_date(url: str) -> bool:
    return current_revisions(url) == head_revisions()
