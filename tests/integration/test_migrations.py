"""Migrations match the models on both servers, go down and up again, and add pgvector where it exists."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from tests.conftest import SERVER_ADMIN_URL
from vidpipe.db import migrate
from vidpipe.db.database import drop_database, ensure_database


def test_models_and_migrations_agree(database_url):
    command.check(migrate.alembic_config(database_url))  # raises if autogenerate would emit anything
    assert migrate.is_up_to_date(database_url)


def test_downgrade_and_upgrade_round_trip(embedded_admin_url):
    for admin in (embedded_admin_url, SERVER_ADMIN_URL):
        name = f"vidpipe_mig_{uuid.uuid4().hex[:8]}"
        ensure_database(admin, name)
        base, _, query = admin.partition("?")
        url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
        try:
            migrate.upgrade(url)
            command.downgrade(migrate.alembic_config(url), "base")
            assert migrate.current_revision(url) is None
            migrate.upgrade(url)
            assert migrate.is_up_to_date(url)
        finally:
            drop_database(admin, name)


def test_vector_extension_only_where_available(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        available = conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")).scalar()
        installed = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).scalar()
    engine.dispose()
    assert bool(available) == bool(installed)
    if "host=" in database_url:  # the embedded server ships pgvector
        assert installed


def test_keys_made_before_roles_become_admin(embedded_admin_url):
    name = f"vidpipe_mig_{uuid.uuid4().hex[:8]}"
    ensure_database(embedded_admin_url, name)
    base, _, query = embedded_admin_url.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    try:
        config = migrate.alembic_config(url)
        for head in ("0002", "0003c", "0003p", "0003w"):  # every head before the roles revision
            command.upgrade(config, head)
        engine = create_engine(migrate.alembic_config(url).get_main_option("sqlalchemy.url").replace("%%", "%"))
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO api_keys (name, prefix, key_hash) VALUES ('old', 'vp_x', :h)"),
                         {"h": "0" * 64})
        migrate.upgrade(url)
        assert migrate.current_revisions(url) == migrate.head_revisions() and len(migrate.head_revisions()) == 1
        with engine.begin() as conn:
            assert conn.execute(text("SELECT role FROM api_keys WHERE name = 'old'")).scalar() == "admin"
            with pytest.raises(Exception, match="ck_api_keys_role"):
                conn.execute(text("UPDATE api_keys SET role = 'root'"))
        engine.dispose()
    finally:
        drop_database(embedded_admin_url, name)
