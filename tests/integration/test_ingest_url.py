"""URL ingest against real HTTP servers on loopback. Nothing here may reach any other address:
a connection spy fails the test on any attempt, and refused hops are checked to be unconnected."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from vidpipe.errors import InputError, LimitExceededError, TransientError, UnsafeSourceError
from vidpipe.ingest.url import FetchResult, fetch_url, resolve_host

LOCAL_ONLY = ["127.0.0.1/32"]
FILE_BODY = bytes(range(256)) * 1200  # 300 KiB: several chunks
LIMIT = 1000


class _Server(ThreadingHTTPServer):
    # Non-daemon handler threads, so server_close() joins them and no thread outlives the tests.
    daemon_threads = False
    block_on_close = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.requests: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        self.peer: _Server | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str) -> str:
        return f"http://{self.server_address[0]}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host")))
        route = self.path.split("?", 1)[0]
        # The client hangs up on purpose in the limit and timeout tests.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route(route)

    def _route(self, route: str) -> None:
        port = self.server.port
        if route == "/file":
            self._body(FILE_BODY, content_type="video/mp4")
        elif route == "/named":
            disposition = "attachment; filename*=UTF-8''..%2F..%2Fevil%E2%80%AEname%0D%0A.MP4"
            self._body(b"named", content_type="video/webm; codecs=vp9", extra={"Content-Disposition": disposition})
        elif route == "/big":
            self._body(b"x" * (LIMIT * 10))
        elif route == "/big-unsized":
            self.send_response(200)
            self.end_headers()
            for _ in range(64):  # close-delimited, no Content-Length: 4 MiB unless the client stops reading
                self.wfile.write(b"y" * 65536)
        elif route == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"z" * 10)
            self.wfile.flush()
            self.server.release.wait(5)
        elif route == "/to-file":
            self._redirect("/file")
        elif route == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data")
        elif route == "/to-peer":
            assert self.server.peer is not None
            self._redirect(self.server.peer.url("/file"))
        elif route == "/to-localhost":
            self._redirect(f"http://localhost:{port}/file")
        elif route == "/to-ftp":
            self._redirect(f"ftp://127.0.0.1:{port}/file")
        elif route == "/to-credentials":
            self._redirect(f"http://admin:hunter2@127.0.0.1:{port}/file")
        elif route == "/to-nowhere":
            self.send_response(302)
            self.end_headers()
        elif route.startswith("/chain/"):
            self._redirect(f"/chain/{int(route.rsplit('/', 1)[1]) + 1}", status=307)
        elif route == "/broken":
            self._body(b"oops", status=500)
        elif route == "/busy":
            self._body(b"slow down", status=429)
        else:
            self._body(b"not here", status=404)

    def _body(
        self, body: bytes, *, status: int = 200, content_type: str | None = None, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, *, status: int = 302) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _serve(host: str) -> Iterator[_Server]:
    server = _Server(host)
    thread = threading.Thread(target=server.serve_forever, name=f"test-http-{host}", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def peer() -> Iterator[_Server]:
    """A second server on another loopback address, which redirects must never reach."""
    try:
        yield from _serve("127.0.0.2")
    except OSError as exc:  # pragma: no cover - loopback aliases missing
        pytest.skip(f"cannot bind 127.0.0.2: {exc}")


@pytest.fixture(scope="module")
def server(peer: _Server) -> Iterator[_Server]:
    for running in _serve("127.0.0.1"):
        running.peer = peer
        yield running


@pytest.fixture(autouse=True)
def fresh_logs(server: _Server, peer: _Server) -> Iterator[None]:
    for each in (server, peer):
        each.requests.clear()
        each.release = threading.Event()
    yield
    server.release.set()


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every outgoing connection attempt; anything but loopback fails the test instead of connecting."""
    attempts: list[tuple[str, int]] = []
    real = socket.create_connection

    def spy(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        attempts.append((address[0], address[1]))
        if address[0] not in ("127.0.0.1", "127.0.0.2"):
            raise AssertionError(f"test tried to connect to {address}")
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", spy)
    return attempts


class FakeDNS:
    """An injected resolver: answers from a table and counts lookups, sends nothing anywhere."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise AssertionError(f"unexpected lookup of {host}")
        return self.table[host]


def fetch(url: str, *, allow: list[str] = LOCAL_ONLY, **kwargs: object) -> tuple[FetchResult, list[bytes]]:
    chunks: list[bytes] = []
    options: dict[str, object] = {"max_bytes": 10 * 1024 * 1024, "timeout": 5.0, **kwargs}
    result = fetch_url(url, chunks.append, allow_networks=allow, **options)  # type: ignore[arg-type]
    return result, chunks


# --- success ---------------------------------------------------------------------------------------------------
def test_streams_a_file_in_bounded_chunks(server: _Server, connections: list[tuple[str, int]]) -> None:
    result, chunks = fetch(server.url("/file"))
    assert b"".join(chunks) == FILE_BODY
    assert len(chunks) > 1
    assert max(len(c) for c in chunks) <= 64 * 1024
    assert result == FetchResult(
        final_url=server.url("/file"), content_type="video/mp4", filename_hint="file", size=len(FILE_BODY)
    )
    assert connections == [("127.0.0.1", server.port)]


def test_filename_hint_from_content_disposition_is_sanitized(server: _Server) -> None:
    result, _ = fetch(server.url("/named"))
    assert result.filename_hint == "evilname .MP4"
    assert result.content_type == "video/webm"


def test_follows_a_safe_redirect(server: _Server) -> None:
    result, chunks = fetch(server.url("/to-file?token=abc"))
    assert result.final_url == server.url("/file")
    assert b"".join(chunks) == FILE_BODY
    assert [path for path, _ in server.requests] == ["/to-file?token=abc", "/file"]


def test_connects_to_the_vetted_address_and_sends_the_real_host(
    server: _Server, connections: list[tuple[str, int]]
) -> None:
    # The second answer would be a rebinding attack; the name must be looked up once and the vetted address used.
    answers = iter([["127.0.0.1"], ["10.0.0.5"]])
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    result, _ = fetch(f"http://media.example.test:{server.port}/file", resolver=rebinding)
    assert result.final_url == f"http://media.example.test:{server.port}/file"
    assert lookups == ["media.example.test"]
    assert connections == [("127.0.0.1", server.port)]
    assert server.requests == [("/file", f"media.example.test:{server.port}")]


def test_https_is_pinned_with_sni_of_the_real_name(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[httpx.Request] = []

    def capture(self: httpx.Client, request: httpx.Request, **kwargs: object) -> httpx.Response:
        sent.append(request)
        raise httpx.ConnectError("not connecting in this test", request=request)

    monkeypatch.setattr(httpx.Client, "send", capture)
    dns = FakeDNS({"media.example.test": ["127.0.0.1"]})
    with pytest.raises(TransientError, match="could not fetch https://media.example.test/v.mp4"):
        fetch("https://media.example.test/v.mp4", resolver=dns)
    (request,) = sent
    assert request.url.host == "127.0.0.1"
    assert request.url.scheme == "https"
    assert request.headers["Host"] == "media.example.test"
    assert request.extensions["sni_hostname"] == "media.example.test"


# --- address refusals: never connected ------------------------------------------------------------------------
def test_redirect_to_cloud_metadata_is_refused_before_connecting(
    server: _Server, connections: list[tuple[str, int]]
) -> None:
    with pytest.raises(UnsafeSourceError, match=r"169\.254\.169\.254.*link-local") as info:
        fetch(server.url("/to-metadata"))
    assert "refusing http://169.254.169.254/latest/meta-data" in str(info.value)
    assert connections == [("127.0.0.1", server.port)]
    assert [path for path, _ in server.requests] == ["/to-metadata"]


def test_redirect_to_another_loopback_address_is_refused(
    server: _Server, peer: _Server, connections: list[tuple[str, int]]
) -> None:
    with pytest.raises(UnsafeSourceError, match=r"loopback address 127\.0\.0\.2"):
        fetch(server.url("/to-peer"))
    assert peer.requests == []
    assert connections == [("127.0.0.1", server.port)]


def test_the_peer_is_reachable_when_allowed(server: _Server, peer: _Server) -> None:
    # Guards the test above: the refusal is the guard's doing, not an unreachable peer.
    result, _ = fetch(server.url("/to-peer"), allow=["127.0.0.0/30"])
    assert result.size == len(FILE_BODY)
    assert [path for path, _ in peer.requests] == ["/file"]


def test_redirect_to_localhost_is_refused_if_any_answer_is_unlisted(
    server: _Server, connections: list[tuple[str, int]]
) -> None:
    dns = FakeDNS({"localhost": ["127.0.0.1", "::1"]})
    with pytest.raises(UnsafeSourceError, match=r"localhost resolves to a loopback address ::1"):
        fetch(server.url("/to-localhost"), resolver=dns)
    assert dns.lookups == ["localhost"]
    assert connections == [("127.0.0.1", server.port)]


def test_local_server_itself_is_refused_without_an_allow_list(
    server: _Server, connections: list[tuple[str, int]]
) -> None:
    with pytest.raises(UnsafeSourceError, match="loopback"):
        fetch(server.url("/file"), allow=[])
    assert connections == []
    assert server.requests == []


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "127.0.0.1",
        "224.0.0.251",
        "255.255.255.255",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::5",
        "::ffff:10.0.0.5",
        "::ffff:169.254.169.254",
        "2002:a00:5::",
        "64:ff9b::a00:5",
        "ff02::1",
    ],
)
def test_hostname_resolving_to_a_non_public_address_is_refused_before_connecting(
    address: str, connections: list[tuple[str, int]]
) -> None:
    dns = FakeDNS({"innocent.example.test": [address]})
    with pytest.raises(UnsafeSourceError, match="innocent.example.test resolves to"):
        fetch("http://innocent.example.test/video.mp4", allow=[], resolver=dns)
    assert dns.lookups == ["innocent.example.test"]
    assert connections == []


def test_one_bad_answer_among_good_ones_is_refused(connections: list[tuple[str, int]]) -> None:
    dns = FakeDNS({"mixed.example.test": ["127.0.0.1", "10.0.0.5"]})
    with pytest.raises(UnsafeSourceError, match=r"private address 10\.0\.0\.5"):
        fetch("http://mixed.example.test/video.mp4", resolver=dns)
    assert connections == []


@pytest.mark.parametrize(
    "url", ["http://[::1]/", "http://[::1]:8080/x.mp4", "http://[::ffff:127.0.0.1]/", "https://127.0.0.1/"]
)
def test_address_literals_are_refused_without_a_lookup(url: str, connections: list[tuple[str, int]]) -> None:
    dns = FakeDNS({})
    with pytest.raises(UnsafeSourceError, match="loopback"):
        fetch(url, allow=[], resolver=dns)
    assert dns.lookups == []
    assert connections == []


def test_ipv4_mapped_literal_counts_as_its_ipv4_address(server: _Server) -> None:
    result, _ = fetch(f"http://[::ffff:127.0.0.1]:{server.port}/file")
    assert result.size == len(FILE_BODY)


# --- scheme and URL refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/file", "gopher://127.0.0.1:70/_x", "javascript:alert(1)", "/relative.mp4"],
)
def test_only_http_and_https(url: str, connections: list[tuple[str, int]]) -> None:
    with pytest.raises(UnsafeSourceError, match="only http and https"):
        fetch(url, resolver=FakeDNS({}))
    assert connections == []


def test_credentials_in_urls_are_refused_and_not_echoed(server: _Server, connections: list[tuple[str, int]]) -> None:
    with pytest.raises(UnsafeSourceError, match="credentials") as info:
        fetch(f"http://admin:hunter2@127.0.0.1:{server.port}/file")
    assert "hunter2" not in str(info.value)
    assert connections == []


@pytest.mark.parametrize(
    "url", ["http://exa mple.com/", "http://example.com:99999999/", "http://exa%00mple.com/", "http://ex<a>.com/"]
)
def test_malformed_url_is_an_input_error(url: str, connections: list[tuple[str, int]]) -> None:
    with pytest.raises(InputError, match="not a valid"):
        fetch(url, resolver=FakeDNS({}))
    assert connections == []


@pytest.mark.parametrize(("route", "error"), [("/to-ftp", "only http and https"), ("/to-credentials", "credentials")])
def test_redirects_are_held_to_the_same_rules(server: _Server, route: str, error: str) -> None:
    with pytest.raises(UnsafeSourceError, match=error):
        fetch(server.url(route))
    assert [path for path, _ in server.requests] == [route]


# --- redirects, status codes, limits, timeouts -------------------------------------------------------------------
def test_redirect_chain_longer_than_the_limit(server: _Server) -> None:
    with pytest.raises(InputError, match="too many redirects") as info:
        fetch(server.url("/chain/0"), max_redirects=3)
    assert not isinstance(info.value, TransientError)
    assert [path for path, _ in server.requests] == ["/chain/0", "/chain/1", "/chain/2", "/chain/3"]


def test_redirect_without_location(server: _Server) -> None:
    with pytest.raises(InputError, match="without a Location"):
        fetch(server.url("/to-nowhere"))


def test_not_found_is_permanent(server: _Server) -> None:
    with pytest.raises(InputError, match="HTTP 404") as info:
        fetch(server.url("/missing?sig=secret"))
    assert info.value.retryable is False
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(("route", "status"), [("/broken", "500"), ("/busy", "429")])
def test_server_errors_are_transient(server: _Server, route: str, status: str) -> None:
    with pytest.raises(TransientError, match=f"HTTP {status}") as info:
        fetch(server.url(route))
    assert info.value.retryable is True


def test_declared_length_over_the_limit_is_refused_before_reading(server: _Server) -> None:
    chunks: list[bytes] = []
    with pytest.raises(LimitExceededError, match=f"{LIMIT * 10} bytes, over the limit of {LIMIT} bytes"):
        fetch_url(server.url("/big"), chunks.append, allow_networks=LOCAL_ONLY, max_bytes=LIMIT, timeout=5)
    assert chunks == []


def test_undeclared_length_over_the_limit_stops_while_streaming(server: _Server) -> None:
    chunks: list[bytes] = []
    with pytest.raises(LimitExceededError, match=f"over the limit of {100_000} bytes"):
        fetch_url(server.url("/big-unsized"), chunks.append, allow_networks=LOCAL_ONLY, max_bytes=100_000, timeout=5)
    assert sum(len(c) for c in chunks) <= 100_000


def test_exactly_the_limit_is_fine(server: _Server) -> None:
    result, _ = fetch(server.url("/file"), max_bytes=len(FILE_BODY))
    assert result.size == len(FILE_BODY)


def test_read_timeout_is_transient(server: _Server) -> None:
    with pytest.raises(TransientError, match=r"timed out reading http://127\.0\.0\.1:\d+/slow after \d+ bytes"):
        fetch(server.url("/slow"), timeout=0.3)


def test_connection_refused_is_transient(connections: list[tuple[str, int]]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago; nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError, match="could not fetch"):
        fetch(f"http://127.0.0.1:{port}/file")


def test_default_resolver_answers_address_literals_locally() -> None:
    assert resolve_host("127.0.0.1", 80) == ["127.0.0.1"]
