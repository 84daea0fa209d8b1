"""The API against its own OpenAPI document: schemathesis (positive and negative examples, coverage, fuzzing,
stateful links) with bounded examples and a fixed seed, against the real app under uvicorn on 127.0.0.1 and the
embedded PostgreSQL (pgvector: search answers). Zero 5xx and zero contract mismatches, or the gate fails.

Network: URL ingest resolves every host to 127.0.0.1 (refused as loopback), and this process refuses outgoing
TCP to anything but loopback, so nothing generated here can leave the machine."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from vidpipe.db import apikeys
from vidpipe.ingest import url as url_ingest
from vidpipe.server import create_app, uvicorn_config

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
ST = str(Path(sys.executable).with_name("st"))
MAX_EXAMPLES = 8  # per operation and phase; about a minute on an idle machine
SEED = 1


@pytest.fixture
def loopback_only(monkeypatch) -> None:
    monkeypatch.setitem(url_ingest.fetch_url.__kwdefaults__, "resolver", lambda host, port: ["127.0.0.1"])
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address) -> None:  # noqa: ANN001
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise ConnectionRefusedError(f"the contract test talks to loopback only, not {address[0]}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def served(runtime, loopback_only) -> Iterator[tuple[str, str]]:
    with runtime.db.session() as s, s.begin():
        key = apikeys.create_key(s, "contract", role="admin").secret
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn_config(create_app(runtime), runtime.settings, "127.0.0.1", port, access_log=False,
                            lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    # The first search loads the text embedder; do it before the clock of any generated request starts.
    httpx.get(f"{base}/v1/search", params={"q": "warm up"}, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    yield base, key
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("database_url", ["embedded"], indirect=True)
def test_the_api_keeps_its_openapi_contract(served, tmp_path):
    base, key = served
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCHEMATHESIS_HOOKS": "tests.fuzz.schemathesis_hooks",
           "NO_COLOR": "1"}
    cmd = [ST, "--config-file", str(HERE / "schemathesis.toml"), "run", f"{base}/openapi.json",
           "-H", f"Authorization: Bearer {key}", "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED),
           "--checks", "all", "--exclude-path", "/v1/events/stream",  # a stream that never ends by design
           "--request-timeout", "60", "--no-color"]
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    output = result.stdout + result.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    summary = output[output.find("SUMMARY"):] if "SUMMARY" in output else output[-4000:]
    details = output[output.find("= FAILURES ="):output.find("= WARNINGS =")] if "= FAILURES =" in output else ""
    assert "Failures:" not in summary and "Errors:" not in summary, (details[:8000] + summary)
    assert result.returncode == 0, output[-12000:]
    generated = re.search(r"(\d+) generated", summary)
    assert generated and int(generated.group(1)) > 500, summary  # it really exercised the API
