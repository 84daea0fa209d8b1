"""The header cap of the real server configuration (vidpipe.server.uvicorn_config) over a real socket: a huge
header is refused with 431 after reading little more than the cap, on httptools and on h11."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from vidpipe.server import uvicorn_config
from vidpipe.settings import Settings

CAP = 16 * 1024


async def hello(scope, receive, send):  # noqa: ANN001 - a bare ASGI app: what is behind the server does not matter
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=["httptools", "h11"])
def server(request, tmp_path) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(data_dir=tmp_path, max_header_bytes=CAP, _env_file=None)
    config = uvicorn_config(hello, settings, "127.0.0.1", port, access_log=False, lifespan="off")
    if request.param == "h11":
        config.http = "h11"
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    srv.should_exit = True
    thread.join(10)


def _exchange(port: int, head: bytes, *, trickle: int = 0) -> tuple[bytes, int]:
    """Send `head` (in 64 KiB pieces) plus `trickle` more header bytes; (what came back, bytes the server took)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            conn.sendall(head)
            sent = len(head)
            piece = b"a" * 65536
            while sent < len(head) + trickle:
                conn.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer, sent


def test_normal_headers_pass_and_a_huge_header_is_cut_off(server):
    padded = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 8000 + b"\r\nConnection: close\r\n\r\n"
    ok, _ = _exchange(server, padded)
    assert ok.startswith(b"HTTP/1.1 200"), ok[:100]
    huge = 100 * 1024 * 1024
    answer, sent = _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ", trickle=huge)
    assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.1 431 Request Header Fields Too Large",
                                           b"HTTP/1.1 400 Bad Request"), answer[:200]
    assert sent < huge / 4, f"the server kept reading: {sent} bytes went in"  # it closed the connection early


def test_the_cap_counts_every_request_on_a_kept_alive_connection(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as conn:
        conn.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        answer = b""
        try:
            conn.sendall(b"GET /b HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(CAP * 4 // 4096):  # arriving over many reads, as from a slow client
                conn.sendall(b"b" * 4096)
                time.sleep(0.002)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 431") or answer.startswith(b"HTTP/1.1 400"), answer[:100]
