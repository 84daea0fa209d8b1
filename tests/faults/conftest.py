"""Fault-injection fixtures: a PostgreSQL cluster of the suite's own (so a test may stop and start it), a Redis
the test can kill, a small media disk the test can fill, and an API server plus workers as real processes.

Everything here is bounded: tiny media, short waits, and teardown that kills what it started."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.acceptance.conftest import Processes, child_env, free_port, media, procs, wait_for  # noqa: F401
from tests.conftest import IN_CI
from vidpipe.db import migrate
from vidpipe.db.database import ensure_database
from vidpipe.settings import Settings

PG_BIN = Path(os.environ.get("VIDPIPE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # initdb and postgres refuse to run as root


def _as_pg_user(args: list[str], **kw) -> subprocess.CompletedProcess[str]:
    command = args if os.geteuid() != 0 else ["runuser", "-u", PG_USER, "--", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, **kw)


@dataclass
class PgCluster:
    """A PostgreSQL server of this test session: `stop()` and `start()` are the outage."""

    data_dir: Path
    port: int

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        _as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "30", "-l",
                     str(self.data_dir / "server.log"), "start"], timeout=40)
        prioritize(int((self.data_dir / "postmaster.pid").read_text().split()[0]))  # backends inherit it

    def stop(self) -> None:
        _as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "30", "-m", "fast", "stop"],
                    timeout=40)

    def new_database(self) -> str:
        name = f"vidpipe_fault_{uuid.uuid4().hex[:8]}"
        ensure_database(self.admin_url, name)
        url = self.admin_url.rsplit("/", 1)[0] + f"/{name}"
        migrate.upgrade(url)
        return url


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    if not (PG_BIN / "initdb").exists():
        if IN_CI:
            pytest.fail(f"no PostgreSQL binaries at {PG_BIN} (CI must provide them)")
        pytest.skip(f"no PostgreSQL binaries at {PG_BIN}")
    parent = Path(tempfile.mkdtemp(prefix="vidpipe-fault-pg-"))
    parent.chmod(0o755)
    data_dir = parent / "data"
    if os.geteuid() == 0:
        shutil.chown(parent, PG_USER)
    _as_pg_user([str(PG_BIN / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", "postgres", "--no-sync",
                 "-E", "UTF8"], timeout=120)
    port = free_port()
    with (data_dir / "postgresql.conf").open("a") as conf:  # a throwaway server: speed over durability
        conf.write(f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{data_dir}'"
                   "\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")
    cluster = PgCluster(data_dir, port)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def fault_settings(tmp_path: Path, pg_cluster: PgCluster) -> Settings:
    """Settings on a fresh database of the suite's own cluster."""
    if not (pg_cluster.data_dir / "postmaster.pid").exists():  # a failed outage test left it stopped
        pg_cluster.start()
    return Settings(data_dir=tmp_path / "data", database_url=pg_cluster.new_database(), media_dir=tmp_path / "media",
                    scratch_dir=tmp_path / "scratch", import_roots=[tmp_path])


@pytest.fixture
def fault_runtime(fault_settings: Settings):
    from vidpipe.runtime import Runtime

    rt = Runtime.from_settings(fault_settings, pool_size=4)
    yield rt
    rt.close()


# The timing figures are about vidpipe, not about other tenants of a shared build machine: the suite's own
# server and workers run at a higher priority (root only; threads and children started later inherit it).
PRIORITY = -5


def prioritize(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, PRIORITY)


def spawn_worker(children: Processes, env: dict[str, str], name: str, slots: int = 2):
    child = children.spawn(["worker", "-c", str(slots)], env, name=name)
    prioritize(child.pid)
    return child


def worker_env(settings: Settings, **overrides) -> dict[str, str]:
    """A child's environment: the default presence grace (what is measured), a lease too long to matter, and
    only cheap analyzers (model loads would dominate a suite that restarts workers all the time)."""
    env = child_env(settings, job_lease_seconds=30, **overrides)
    env["VIDPIPE_ANALYZERS"] = "black,loudness"
    return env


# --- an API server process -------------------------------------------------------------------------------------
@dataclass
class ApiServer:
    base_url: str
    key: str

    def get(self, path: str, **kw) -> httpx.Response:
        return httpx.get(self.base_url + path, headers={"Authorization": f"Bearer {self.key}"}, timeout=10, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return httpx.post(self.base_url + path, headers={"Authorization": f"Bearer {self.key}"}, timeout=30, **kw)


def start_api(children: Processes, settings: Settings, **overrides) -> ApiServer:
    env = worker_env(settings, **overrides)
    made = children.run(["keys", "create", "faults"], env, timeout=60)
    assert made.returncode == 0, made.stderr
    port = free_port()
    server = children.spawn(["serve", "--port", str(port)], env, name="api")
    prioritize(server.pid)
    api = ApiServer(f"http://127.0.0.1:{port}", made.stdout.strip().splitlines()[-1])

    def up() -> bool:
        try:
            return httpx.get(api.base_url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout=60, what="the API to listen", procs=[server])
    return api


# --- Redis of the test's own --------------------------------------------------------------------------------
@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (CI must provide it)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, proc)
    import redis

    client = redis.Redis(port=port)
    wait_for(lambda: _pings(client), timeout=10, what="redis-server to answer")
    client.close()
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


# --- a small disk ---------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB filesystem the test can fill: tmpfs, else an ext4 image on a loop device (both need root)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    attempts = [["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)]]
    image = tmp_path / "small-disk.img"
    loop = [["truncate", "-s", "24M", str(image)], ["mkfs.ext4", "-q", str(image)],
            ["mount", "-o", "loop", str(image), str(mount_point)]]
    mounted = subprocess.run(attempts[0], capture_output=True).returncode == 0
    if not mounted:
        mounted = all(subprocess.run(step, capture_output=True).returncode == 0 for step in loop)
    if not mounted:
        if IN_CI:
            pytest.fail("cannot mount a small filesystem (the fault suite runs as root in CI)")
        pytest.skip("cannot mount a small filesystem (needs root)")
    try:
        yield mount_point
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode == 0:
                break
            time.sleep(0.25)
        else:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(disk: Path, leave_bytes: int, name: str = "filler") -> Path:
    """Fill `disk` until about `leave_bytes` are free; returns the filler file (delete it to free the space)."""
    filler = disk / name
    remaining = max(0, shutil.disk_usage(disk).free - leave_bytes)
    block = b"\0" * (1 << 20)
    with contextlib.suppress(OSError), filler.open("wb") as fh:  # ENOSPC: as full as it gets
        while remaining > 0:
            fh.write(block[: min(len(block), remaining)])
            remaining -= len(block)
    return filler


def database_ok(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1
    except Exception:
        return False
    finally:
        engine.dispose()


# --- media and the invariants every fault test checks -----------------------------------------------------------
def tiny_clips(folder: Path, count: int, *, width: int = 320, height: int = 180, seconds: float = 2.0) -> list[Path]:
    """`count` distinct clips (different lengths: different bytes, so none is a duplicate of another)."""
    from vidpipe.ffmpeg import samples

    folder.mkdir(parents=True, exist_ok=True)
    return [samples.make_video(folder / f"clip-{i}.mp4", width=width, height=height, seconds=seconds + 0.5 * i,
                               scene_seconds=1.0) for i in range(count)]


def assert_intact(rt, asset_ids: list[uuid.UUID], *, failed: dict[uuid.UUID, str] | None = None) -> None:
    """Nothing lost, nothing duplicated: every asset reached its expected end, every stage of a ready asset
    succeeded exactly once with one job row, renditions and artifact keys are unique and their files exist."""
    from collections import Counter

    from sqlalchemy import select

    from tests.acceptance.conftest import events_of, jobs_of
    from vidpipe.db.models import Asset
    from vidpipe.stages import registry

    failed = failed or {}
    with rt.db.session() as s:
        found = {a.id: a for a in s.scalars(select(Asset).where(Asset.id.in_(asset_ids)))}
        assert set(found) == set(asset_ids), "an asset was lost"
        for aid in asset_ids:
            asset = found[aid]
            assert asset.status == ("failed" if aid in failed else "ready"), (aid, asset.status,
                                                                               asset.error_message)
            names = [r.name for r in asset.renditions]
            keys = [a.key for a in asset.artifacts]
            assert len(names) == len(set(names)) and len(keys) == len(set(keys)), "duplicated rows"
            for key in keys:
                assert (rt.settings.media_root / key).is_file(), key
    for aid in asset_ids:
        rows = jobs_of(rt, aid)
        assert not [j for j in rows if j.status in ("queued", "running")], "work left behind"
        per_stage = Counter(j.stage for j in rows)
        assert all(n == 1 for n in per_stage.values()), f"duplicated jobs: {per_stage}"
        succeeded = Counter(e.detail["stage"] for e in events_of(rt, asset_id=aid, event="job.succeeded"))
        if aid not in failed:
            assert succeeded == Counter({name: 1 for name in registry.STAGES}), succeeded
        else:
            assert all(n == 1 for n in succeeded.values()) and failed[aid] not in succeeded
