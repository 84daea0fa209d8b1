"""HNSW indexes over `embeddings`: one partial expression index per (model, dim) and vector kind.

`embeddings.embedding` is an untyped `vector` (models differ in dimension), and HNSW needs a fixed dimension,
so each index casts `embedding::vector(<dim>)` and is restricted to one model/dimension. Queries repeat the
same expression and predicates as SQL literals, so the planner can prove the partial index applies.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from vidpipe.contract import UnderstandingResult
from vidpipe.db.models import VECTOR_INDEX_PREFIX
from vidpipe.db.understanding import has_embeddings_table
from vidpipe.errors import VectorSearchUnavailable

log = logging.getLogger(__name__)

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
MIN_EF_SEARCH = 100  # measured in bench/bench_search.py: recall@10 >= 0.95 at 100k vectors
MAX_EF_SEARCH = 1000
MAX_DIM = 2000  # pgvector's HNSW limit for `vector`
KINDS = ("segment", "pooled")  # clip-level vectors, per-asset vectors

_known: set[tuple[str, str, int]] = set()  # (database, model, dim) this process saw indexed (committed)
_failed: dict[tuple[str, str, int], float] = {}  # ... whose build could not start (monotonic time)
_known_lock = threading.Lock()
RETRY_SECONDS = 60.0
LOCK_TIMEOUT_MS = 100


def require_vectors(session: Session) -> None:
    if not has_embeddings_table(session):
        raise VectorSearchUnavailable(
            "vector search needs the pgvector extension, which this PostgreSQL server does not have; "
            "use the embedded PostgreSQL or install pgvector (everything else keeps working)")


def sql_literal(value: str) -> str:
    """A quoted SQL string literal (DDL and partial-index predicates cannot take bind parameters)."""
    if "\0" in value:
        raise ValueError("NUL in SQL literal")
    return "'" + value.replace("'", "''") + "'"


def vector_expr(dim: int, alias: str = "e") -> str:
    return f"({alias}.embedding::vector({int(dim)}))"


def scope_predicate(model: str, dim: int, kind: str, alias: str = "e") -> str:
    """The WHERE clause an index covers; queries must include it verbatim."""
    null = "IS NOT NULL" if kind == "segment" else "IS NULL"
    return f"{alias}.model = {sql_literal(model)} AND {alias}.dim = {int(dim)} AND {alias}.segment_id {null}"


# Indexes made at run time, one per model: not in the SQLAlchemy models, so schema checks (alembic check)
# must skip names with this prefix.
INDEX_PREFIX = VECTOR_INDEX_PREFIX


def index_name(model: str, dim: int, kind: str) -> str:
    digest = hashlib.sha1(f"{model}\0{dim}".encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{INDEX_PREFIX}{kind[:3]}_{dim}_{digest}"


def _missing(executor: Session | Connection, model: str, dim: int) -> list[str]:
    names = [index_name(model, dim, kind) for kind in KINDS]
    found = executor.execute(text("SELECT n FROM unnest(CAST(:names AS text[])) AS n WHERE to_regclass(n) IS NULL"),
                             {"names": names}).scalars()
    return list(found)


def _create(executor: Session | Connection, model: str, dim: int) -> bool:
    created = False
    for kind in KINDS:
        name = index_name(model, dim, kind)
        if executor.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar():
            continue
        # Two processes meeting a new model at once: one builds, the other waits and then finds it.
        executor.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})
        predicate = scope_predicate(model, dim, kind, alias="embeddings").replace("embeddings.", "")
        executor.execute(text(
            f"CREATE INDEX IF NOT EXISTS {name} ON embeddings USING hnsw "
            f"((embedding::vector({int(dim)})) vector_cosine_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE {predicate}"))
        log.info("search.index_created", extra={"index": name, "model": model, "dim": dim, "kind": kind})
        created = True
    return created


def _engine(session: Session) -> Engine:
    """The engine behind a session (ours are bound to one; a session bound to a connection gives its engine)."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _key(session: Session, model: str, dim: int) -> tuple[str, str, int]:
    return _engine(session).url.render_as_string(hide_password=True), model, dim


def ensure_index(session: Session, model: str, dim: int) -> bool:
    """Create the HNSW indexes for (model, dim) if missing, in the caller's transaction (writers: call it after
    storing vectors, before commit). Idempotent, safe across processes; True if it created any."""
    if not 0 < dim <= MAX_DIM:
        return False  # no ANN index possible; queries fall back to an exact scan
    if _key(session, model, dim) in _known:
        return False
    return _create(session, model, dim)


def ensure_index_for_search(session: Session, model: str, dim: int) -> None:
    """Before a query: build a missing index in a transaction of its own (a read-only request's transaction is
    rolled back). If another transaction holds the table (a writer mid-transaction), don't wait: the query
    runs as an exact scan and building is retried later."""
    key = _key(session, model, dim)
    if key in _known or not 0 < dim <= MAX_DIM:
        return
    failed = _failed.get(key)
    if failed is not None and time.monotonic() - failed < RETRY_SECONDS:
        return
    if not _missing(session, model, dim):
        with _known_lock:
            _known.add(key)
        return
    try:
        with _engine(session).connect() as conn, conn.begin():
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
            _create(conn, model, dim)
    except OperationalError as exc:
        log.warning("search.index_deferred", extra={"model": model, "dim": dim, "error": str(exc.orig)[:200]})
        _failed[key] = time.monotonic()
        return
    with _known_lock:
        _known.add(key)


def ensure_indexes(session: Session) -> list[tuple[str, int]]:
    """Indexes for every (model, dim) stored; call after saving vectors (cheap when they exist)."""
    if not has_embeddings_table(session):
        return []
    pairs = [(m, d) for m, d in session.execute(text("SELECT DISTINCT model, dim FROM embeddings"))]
    for model, dim in pairs:
        ensure_index(session, model, dim)
    return pairs


def tune_session(session: Session, candidates: int, *, filtered: bool) -> None:
    """SET LOCAL the HNSW search breadth for this transaction (candidates = rows the query needs)."""
    ef = max(MIN_EF_SEARCH, min(MAX_EF_SEARCH, candidates * 2))
    session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef)}"))
    if filtered:  # pgvector >= 0.8: keep scanning the graph until enough rows pass the filters
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))


def ensure_search_indexes(session: Session, result: UnderstandingResult) -> None:
    """After the vectors are committed: the HNSW index of each (model, dim) they use, if missing.

    Never inside the saving transaction: two workers creating the same index while each holds its own
    freshly inserted rows deadlock. This builds in a transaction of its own with a short lock timeout and,
    if writers are busy, leaves it to the next write or search (queries fall back to an exact scan).
    """
    pairs = {(v.model, v.dim) for v in result.vectors}
    pairs |= {(v.model, v.dim) for seg in result.segments for v in seg.vectors}
    for model, dim in sorted(pairs):
        ensure_index_for_search(session, model, dim)


def forget_known_indexes() -> None:
    """Tests drop indexes behind this process's back."""
    with _known_lock:
        _known.clear()
        _failed.clear()
