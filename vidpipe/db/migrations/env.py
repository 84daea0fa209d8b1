"""Alembic environment: runs against the URL vidpipe passes in (never read from alembic.ini)."""

from alembic import context
from sqlalchemy import create_engine, pool

from vidpipe.db.models import VECTOR_INDEX_PREFIX, VECTOR_TABLES, Base
from vidpipe.errors import VidpipeError

config = context.config
target_metadata = Base.metadata


def _include_object_for(connection):
    """On a server without pgvector the vector tables are absent on purpose; don't report them as drift."""
    # Asked lazily: only autogenerate/check call include_object, and a query here before
    # begin_transaction() would open an implicit transaction that alembic then never commits.
    state: dict[str, bool] = {}

    def include_object(obj, name, type_, reflected, compare_to):
        if type_ == "index" and name and name.startswith(VECTOR_INDEX_PREFIX):
            return False  # HNSW indexes are made at run time, one per (model, dim) — see vidpipe.search.index
        table = obj if type_ == "table" else getattr(obj, "table", None)
        if table is None or table.name not in VECTOR_TABLES:
            return True
        if "vector" not in state:
            sql = "SELECT 1 FROM pg_extension WHERE extname = 'vector'"
            state["vector"] = bool(connection.exec_driver_sql(sql).scalar())
        return state["vector"]

    return include_object


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, compare_type=True,
                          include_object=_include_object_for(connectable))
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if url is None:  # vidpipe.db.migrate always passes one of the two
        raise VidpipeError("alembic was given neither a connection nor sqlalchemy.url", code="migration_no_database")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                          include_object=_include_object_for(connection))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
