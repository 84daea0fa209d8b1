"""Shared fixtures: real databases (the embedded PostgreSQL 18 + pgvector, and the machine's PostgreSQL 15),
a fresh database per run, a clean schema per test, and a Runtime wired to them."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from vidpipe.db import migrate
from vidpipe.db.database import drop_database, ensure_database, start_embedded, stop_embedded
from vidpipe.settings import Settings

SERVER_ADMIN_URL = os.environ.get("VIDPIPE_TEST_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TABLES = ("events, jobs, artifacts, renditions, media_info, segments, fingerprints, machine_tags, assets, api_keys, "
          "kinesis_checkpoints, web_sessions, processing_profiles, upload_sessions")

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _server_reachable(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def embedded_admin_url() -> Iterator[str]:
    # Run as root, pgserver runs postgres as its own user, which must reach the data dir: pytest's
    # per-user temp root is private, so the server lives in a world-traversable temp dir of its own.
    parent = Path(tempfile.mkdtemp(prefix="vidpipe-test-pg-"))
    parent.chmod(0o755)
    yield start_embedded(parent / "pgdata", database="postgres")
    stop_embedded(parent / "pgdata")
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session", params=["embedded", "server"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A freshly created and migrated database on each server kind."""
    if request.param == "embedded":
        admin = request.getfixturevalue("embedded_admin_url")
    else:
        admin = SERVER_ADMIN_URL
        if not _server_reachable(admin):
            if IN_CI:
                pytest.fail(f"PostgreSQL server at {admin} is not reachable (CI must provide it)")
            pytest.skip(f"PostgreSQL server at {admin} is not reachable")
    name = f"vidpipe_test_{uuid.uuid4().hex[:10]}"
    ensure_database(admin, name)
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    if "?" in admin:  # embedded URLs carry the socket dir as a query parameter
        base, query = admin.split("?", 1)
        url = base.rsplit("/", 1)[0] + f"/{name}?{query}"
    migrate.upgrade(url)
    yield url
    drop_database(admin, name)


@pytest.fixture
def clean_db(database_url: str) -> str:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return database_url


@pytest.fixture
def settings(tmp_path: Path, clean_db: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=clean_db, media_dir=tmp_path / "media",
                    scratch_dir=tmp_path / "scratch", job_lease_seconds=5, job_heartbeat_seconds=0.5,
                    job_backoff_base_seconds=0.05, job_backoff_max_seconds=0.2, import_roots=[tmp_path])


@pytest.fixture
def runtime(settings: Settings):
    from vidpipe.runtime import Runtime

    rt = Runtime.from_settings(settings, pool_size=5)
    yield rt
    rt.close()
