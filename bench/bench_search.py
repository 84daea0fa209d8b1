"""Benchmark vector search: clustered vectors in the embedded PostgreSQL (pgvector HNSW) vs exact search.

    python bench/bench_search.py [--vectors 100000] [--dim 384] [--queries 200] [--k 10] [--ef 40,100,200]
                                 [--no-append]

Loads the vectors as clip-level embeddings (assets + segments + embeddings, binary COPY), builds the HNSW
index the way vidpipe does (vidpipe.search.index.ensure_index), then runs each query twice: through the
real query path (vidpipe.search.query.nearest) and as an exact search (the same SQL with index scans
disabled, i.e. a sequential scan). Prints recall@k and p50/p99 latency and appends a section to
docs/benchmarks.md (other sections are left alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from vidpipe.db import migrate
from vidpipe.db.database import start_embedded, stop_embedded
from vidpipe.search import index as search_index
from vidpipe.search.query import QueryVector, nearest

MODEL = "bench/clustered"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def clustered(rng: np.random.Generator, n: int, dim: int, centers: np.ndarray, spread: float) -> np.ndarray:
    """Points around random cluster centres (as embeddings of similar content are), L2-normalised."""
    x = centers[rng.integers(0, len(centers), n)] + spread * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def load(url: str, vectors: np.ndarray, per_asset: int) -> float:
    started = time.perf_counter()
    n = len(vectors)
    assets = (n + per_asset - 1) // per_asset
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        register_vector(conn)
        conn.execute("TRUNCATE assets CASCADE")
        conn.execute(
            "INSERT INTO assets (id, title, description, tags, source_kind, original_name, sha256, size_bytes, "
            "original_key, profile, status) SELECT gen_random_uuid(), 'bench ' || i, '', '{}', 'upload', '', "
            "md5(i::text) || md5((-i)::text), 1, 'bench/' || i, 'standard', 'ready' "
            "FROM generate_series(1, %s) AS i", (assets,))
        conn.execute(
            "INSERT INTO segments (asset_id, stage, kind, start_s, end_s, detail) "
            "SELECT a.id, 'bench', 'scene', g * 2.0, g * 2.0 + 2.0, '{}' FROM assets a, generate_series(0, %s) AS g",
            (per_asset - 1,))
        rows = conn.execute("SELECT id, asset_id FROM segments ORDER BY id LIMIT %s", (n,)).fetchall()
        with conn.cursor() as cur, cur.copy(
                "COPY embeddings (asset_id, segment_id, stage, modality, model, model_version, dim, embedding) "
                "FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "int8", "text", "text", "text", "text", "int4", "vector"])
            dim = vectors.shape[1]
            for (seg_id, asset_id), v in zip(rows, vectors, strict=True):
                copy.write_row([asset_id, seg_id, "bench", "visual", MODEL, "v1", dim, v])
        conn.execute("ANALYZE embeddings")
    return time.perf_counter() - started


def exact(session: Session, q: np.ndarray, k: int) -> list[int]:
    dim = len(q)
    session.execute(text("SET LOCAL enable_indexscan = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    sql = text(f"SELECT e.id FROM embeddings e WHERE {search_index.scope_predicate(MODEL, dim, 'segment')} "
               f"ORDER BY {search_index.vector_expr(dim)} <=> CAST(:q AS vector({dim})) LIMIT :k")
    ids = list(session.execute(sql, {"q": "[" + ",".join(f"{x:.7g}" for x in q) + "]", "k": k}).scalars())
    session.rollback()
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values to report besides the default path")
    ap.add_argument("--clusters", type=int, default=500)
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()

    rng = np.random.default_rng(20261123)
    centers = rng.standard_normal((args.clusters, args.dim)).astype(np.float32)
    spread = 1.0  # per-dimension noise of the same scale as the centres: neighbours are close, not identical
    data = clustered(rng, args.vectors, args.dim, centers, spread)
    queries = clustered(rng, args.queries, args.dim, centers, spread)

    parent = Path(tempfile.mkdtemp(prefix="vidpipe-bench-pg-"))
    parent.chmod(0o755)
    try:
        admin = start_embedded(parent / "pgdata", database="postgres")
        url = start_embedded(parent / "pgdata", database="bench")
        del admin
        migrate.upgrade(url)
        load_s = load(url, data, per_asset=50)
        print(f"loaded {args.vectors} x {args.dim} vectors in {load_s:.1f} s")
        engine = create_engine(url, pool_size=1)
        with Session(engine) as s:
            s.execute(text("SET maintenance_work_mem = '1GB'"))
            s.execute(text(f"SET max_parallel_maintenance_workers = {max(0, (os.cpu_count() or 2) - 1)}"))
            started = time.perf_counter()
            search_index.ensure_index(s, MODEL, args.dim)
            s.commit()
            build_s = time.perf_counter() - started
        print(f"HNSW index (m={search_index.HNSW_M}, ef_construction={search_index.HNSW_EF_CONSTRUCTION}) "
              f"built in {build_s:.1f} s")

        truth, exact_ms = [], []
        with Session(engine) as s:
            for q in queries:
                t0 = time.perf_counter()
                truth.append(set(exact(s, q, args.k)))
                exact_ms.append((time.perf_counter() - t0) * 1000)

        def run(ef: int | None) -> tuple[float, list[float]]:
            recalls, lat = [], []
            with Session(engine) as s:
                for q, want in zip(queries, truth, strict=True):
                    t0 = time.perf_counter()
                    if ef is not None:
                        s.execute(text(f"SET LOCAL hnsw.ef_search = {ef}"))
                        s.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
                        sql = text(f"SELECT e.id FROM embeddings e WHERE "
                                   f"{search_index.scope_predicate(MODEL, args.dim, 'segment')} "
                                   f"AND e.modality = 'visual' ORDER BY {search_index.vector_expr(args.dim)} "
                                   f"<=> CAST(:q AS vector({args.dim})) LIMIT :k")
                        got = list(s.execute(sql, {"q": "[" + ",".join(f"{x:.7g}" for x in q) + "]",
                                                   "k": args.k}).scalars())
                    else:  # vidpipe's own query path and its ef_search choice
                        got = [r["id"] for r in nearest(s, QueryVector("visual", MODEL, q), kind="segment",
                                                        vector_modalities=("visual",), limit=args.k)]
                    lat.append((time.perf_counter() - t0) * 1000)
                    s.rollback()
                    recalls.append(len(want & set(got)) / args.k)
            return float(np.mean(recalls)), lat

        for _ in range(2):  # warm the index pages and the query plan
            run(None)
        rows = []
        default_ef = max(search_index.MIN_EF_SEARCH, min(search_index.MAX_EF_SEARCH, args.k * 2))
        recall, lat = run(None)
        rows.append((f"vidpipe `nearest()` (ef_search={default_ef})", recall, lat))
        for ef in [int(e) for e in args.ef.split(",") if e]:
            recall, lat = run(ef)
            rows.append((f"ef_search={ef}", recall, lat))
        rows.append(("exact (sequential scan, index off)", 1.0, exact_ms))

        def pct(values: list[float], p: float) -> float:
            return float(np.percentile(values, p))

        table = [f"| query | recall@{args.k} | p50 | p99 |", "|---|---|---|---|"]
        for name, recall, lat in rows:
            table.append(f"| {name} | {recall:.3f} | {statistics.median(lat):.1f} ms | {pct(lat, 99):.1f} ms |")
        print("\n".join(table))
        engine.dispose()
    finally:
        stop_embedded(parent / "pgdata")
        shutil.rmtree(parent, ignore_errors=True)

    if args.no_append:
        return
    cmd = (f"python bench/bench_search.py --vectors {args.vectors} --dim {args.dim} --queries {args.queries} "
           f"--k {args.k} --ef {args.ef}")
    section = f"""
## Vector search

`{cmd}`
({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs {platform.machine()}, Python {platform.python_version()})

{args.vectors:,} clustered {args.dim}-d unit vectors ({args.clusters} clusters) stored as clip-level embeddings in the
embedded PostgreSQL 18 + pgvector (binary COPY: {load_s:.1f} s). HNSW partial expression index
(`(embedding::vector({args.dim})) vector_cosine_ops WHERE model = ... AND dim = ...`, m={search_index.HNSW_M},
ef_construction={search_index.HNSW_EF_CONSTRUCTION}) built in {build_s:.1f} s by `ensure_index`.
{args.queries} queries drawn from the same distribution (not in the table); recall@{args.k} against an exact search
(the same SQL with index scans off), latency measured in Python around each query (one connection, warm cache).

""" + "\n".join(table) + "\n"
    with DOCS.open("a", encoding="utf-8") as fh:
        fh.write(section)
    print(f"appended to {DOCS}")


if __name__ == "__main__":
    main()
