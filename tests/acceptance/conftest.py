"""Acceptance fixtures: spawn the real `vidpipe` processes, watch them through the database, and always
kill them (whole process groups) when a test ends."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from tests.media_cache import MediaCache, default_cache_dir
from vidpipe.settings import Settings

T = TypeVar("T")

VIDPIPE = str(Path(sys.executable).with_name("vidpipe"))


def wait_for(predicate: Callable[[], T], *, timeout: float, interval: float = 0.2, what: str = "condition",
             procs: list[Child] | None = None) -> T:
    """Poll until `predicate()` is truthy; fail (with the children's output) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for p in procs or []:
            if p.popen.poll() is not None:
                pytest.fail(f"{p.name} exited with {p.popen.returncode} while waiting for {what}\n{p.output()}")
        if time.monotonic() > deadline:
            tails = "\n".join(p.output()[-3000:] for p in procs or [])
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
        time.sleep(interval)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        try:
            return f"--- {self.name} (pid {self.pid}) ---\n" + self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)


@dataclass
class Processes:
    """Starts `vidpipe` children in their own process groups; `kill_all` is the fixture's teardown."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)
    pg_dirs: list[Path] = field(default_factory=list)

    def spawn(self, args: list[str], env: dict[str, str], *, name: str | None = None,
              cwd: Path | None = None) -> Child:
        name = name or f"{args[0]}-{len(self.children)}"
        log_path = self.log_dir / f"{name}-{len(self.children)}.log"
        out = open(log_path, "wb")  # noqa: SIM115 - handed to the child
        try:
            popen = subprocess.Popen([VIDPIPE, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=cwd or self.log_dir, start_new_session=True)
        finally:
            out.close()
        child = Child(name, popen, log_path)
        self.children.append(child)
        return child

    def run(self, args: list[str], env: dict[str, str], *, timeout: float, name: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run a short command to completion (bounded), capturing stdout and stderr separately."""
        try:
            return subprocess.run([VIDPIPE, *args], env=env, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, cwd=self.log_dir, start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"`vidpipe {' '.join(args)}` did not finish in {timeout}s:\n{exc.stdout}\n{exc.stderr}")

    def kill_all(self) -> None:
        for child in self.children:
            if child.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.popen.wait(timeout=10)
            # The rest of its group (ffmpeg children), in case they outlived their parent.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        for pg_dir in self.pg_dirs:
            stop_embedded_postgres(pg_dir)


def stop_embedded_postgres(pg_dir: Path) -> None:
    """An embedded PostgreSQL whose users were SIGKILLed keeps running: stop it (fast shutdown)."""
    pid_file = pg_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and pid_file.exists():
        time.sleep(0.1)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    p = Processes(log_dir)
    try:
        yield p
    finally:
        p.kill_all()


@pytest.fixture(scope="session")
def media() -> MediaCache:
    return MediaCache(default_cache_dir())


def base_env(**values: Any) -> dict[str, str]:
    """The parent's environment without any VIDPIPE_* variable, plus `values` (as VIDPIPE_<NAME>)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDPIPE_")}
    env |= {"PYTHONUNBUFFERED": "1", "COLUMNS": "240", "NO_COLOR": "1", "TERM": "dumb"}
    for key, value in values.items():
        if value is not None:
            env[f"VIDPIPE_{key.upper()}"] = str(value)
    return env


def child_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    """Environment for a child that shares `settings`' database, media and scratch directories."""
    values: dict[str, Any] = {
        "data_dir": settings.data_dir,
        "database_url": settings.database_url.get_secret_value() if settings.database_url else None,
        "media_dir": settings.media_root,
        "scratch_dir": settings.scratch_root,
        # Generous: on a loaded 2-core CI machine a model load can stall a heartbeat for seconds. Tests that
        # want a lease to run out (the crash test) pass a short one explicitly.
        "job_lease_seconds": 20,
        "job_heartbeat_seconds": 0.5,
        "job_backoff_base_seconds": 0.2,
        "job_backoff_max_seconds": 1,
        "log_level": "INFO",
    }
    return base_env(**(values | overrides))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- looking at the database -------------------------------------------------------------------------------
def asset_statuses(rt, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    from vidpipe.db.models import Asset

    with rt.db.session() as s:
        return dict(s.execute(select(Asset.id, Asset.status).where(Asset.id.in_(ids))).all())


def all_terminal(rt, ids: list[uuid.UUID]) -> bool:
    statuses = asset_statuses(rt, ids)
    return len(statuses) == len(ids) and all(v in ("ready", "failed") for v in statuses.values())


def events_of(rt, *, asset_id: uuid.UUID | None = None, event: str | None = None) -> list[Any]:
    from vidpipe.db.models import Event

    q = select(Event).order_by(Event.id)
    if asset_id is not None:
        q = q.where(Event.asset_id == asset_id)
    if event is not None:
        q = q.where(Event.event == event)
    with rt.db.session() as s:
        return list(s.scalars(q))


def jobs_of(rt, asset_id: uuid.UUID | None = None) -> list[Any]:
    from vidpipe.db.models import Job

    q = select(Job).order_by(Job.id)
    if asset_id is not None:
        q = q.where(Job.asset_id == asset_id)
    with rt.db.session() as s:
        return list(s.scalars(q))


def live_ffmpeg(marker: str) -> list[int]:
    """Pids of living (not zombie) ffmpeg processes whose command line mentions `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
        if "ffmpeg" in cmdline and marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def ingest_file(rt, path: Path, *, profile: str = "preview", name: str | None = None) -> uuid.UUID:
    from vidpipe.ingest.service import IngestRequest, ingest_path

    req = IngestRequest(source_kind="path", profile=profile, original_name=name or "", actor="test")
    return ingest_path(rt, path, req, roots=[path.parent]).asset.id
