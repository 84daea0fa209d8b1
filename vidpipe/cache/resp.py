"""A minimal asyncio Redis client (RESP2) for the request path: one connection per event loop, shared by all
requests, with automatic pipelining (the commands of every request made in one loop iteration go out in one
write; replies come back in order and may arrive for many requests in one read).

redis-py's asyncio client costs about 100 us of CPU for the read path's three-command pipeline, plus a
connection per concurrent request; this costs a small fraction of that, which is most of the difference
between our cached endpoint and a bare one. Only what the read path needs: `redis://` and `rediss://` (TLS),
AUTH from the URL, SELECT, integer/bulk/array replies. Everything else uses redis-py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

import redis


class RespError(redis.RedisError):
    """An error reply from the server."""


def encode(commands: Sequence[Sequence[bytes | str | int]]) -> bytes:
    out = bytearray()
    for command in commands:
        out += b"*%d\r\n" % len(command)
        for arg in command:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out += b"$%d\r\n%b\r\n" % (len(data), data)
    return bytes(out)


class _Incomplete(Exception):
    pass


def parse_reply(buf: bytes | bytearray, pos: int) -> tuple[object, int]:
    """One reply starting at `pos`: (value, position after it); _Incomplete when more bytes are needed."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, rest = buf[pos], bytes(buf[pos + 1:end])
    pos = end + 2
    if kind == 36:  # $ bulk string
        size = int(rest)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return bytes(buf[pos:pos + size]), pos + size + 2
    if kind == 58:  # : integer
        return int(rest), pos
    if kind == 42:  # * array
        size = int(rest)
        if size < 0:
            return None, pos
        items = []
        for _ in range(size):
            item, pos = parse_reply(buf, pos)
            items.append(item)
        return items, pos
    if kind == 43:  # + simple string
        return rest, pos
    if kind == 45:  # - error
        return RespError(rest.decode(errors="replace")), pos
    raise RespError(f"unexpected reply {bytes(buf[pos - len(rest) - 3:pos])[:40]!r}")


class _Connection(asyncio.Protocol):
    """One connection; requests are queued in order and their replies matched in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.pending: deque[tuple[asyncio.Future[list[object]], int]] = deque()
        self.out = bytearray()
        self.flush_scheduled = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # loop.create_connection hands its protocol a Transport; asyncio.Protocol declares the BaseTransport
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        pos = 0
        while self.pending:
            waiter, count = self.pending[0]
            replies, end = [], pos
            try:
                for _ in range(count):
                    reply, end = parse_reply(self.buf, end)
                    replies.append(reply)
            except _Incomplete:
                break
            except Exception as exc:  # a protocol error: this connection is done
                self.fail(exc)
                return
            self.pending.popleft()
            pos = end
            if not waiter.done():  # a timed-out request's replies are read and dropped
                waiter.set_result(replies)
        del self.buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError(f"redis connection lost: {exc}"))

    def fail(self, exc: BaseException) -> None:
        self.lost = True
        while self.pending:
            waiter, _ = self.pending.popleft()
            if not waiter.done():
                waiter.set_exception(exc)
        self.close()

    def send(self, data: bytes, count: int) -> asyncio.Future[list[object]]:
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.pending.append((waiter, count))
        self.out += data
        if not self.flush_scheduled:
            self.flush_scheduled = True
            loop.call_soon(self._flush)
        return waiter

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.transport is not None and not self.lost and self.out:
            self.transport.write(bytes(self.out))
        self.out.clear()

    async def request(self, data: bytes, count: int) -> list[object]:
        return await self.send(data, count)

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its event loop may be closed already
                self.transport.close()


def _expire(loop: asyncio.AbstractEventLoop, conn: _Connection, waiter: asyncio.Future[list[object]],
            timeout: float) -> None:
    # The event loop runs due timers before it polls sockets: after the process was off the CPU for longer
    # than the timeout (a busy machine), the reply may be waiting unread. Give the poll one more turn.
    if not waiter.done():
        loop.call_later(0.001, _expire_now, conn, waiter, timeout)


def _expire_now(conn: _Connection, waiter: asyncio.Future[list[object]], timeout: float) -> None:
    if not waiter.done():
        # Redis is slow or gone: fail everything waiting on this connection; the next request reconnects.
        conn.fail(TimeoutError(f"redis did not answer within {timeout * 1000:.0f} ms"))


class RespPool:
    """The connection of one event loop (made on first use, remade after it failed)."""

    def __init__(self, url: str, *, timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.ssl = ssl.create_default_context() if parts.scheme == "rediss" else None
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.db = int(parts.path.strip("/") or 0)
        self.timeout = timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port, ssl=self.ssl)
        setup: list[list[bytes | str | int]] = []
        if self.password is not None:
            setup.append(["AUTH", *([self.username] if self.username else []), self.password])
        if self.db:
            setup.append(["SELECT", self.db])
        if setup:
            for reply in await conn.request(encode(setup), len(setup)):
                if isinstance(reply, RespError):
                    conn.close()
                    raise reply
        return conn

    async def _connection(self) -> _Connection:
        conn = self._conn
        if conn is not None and not conn.lost:
            return conn
        if self._connecting is None:  # one connect for all the requests that need it
            self._connecting = asyncio.ensure_future(asyncio.wait_for(self._connect(), self.timeout))
        connecting = self._connecting
        try:
            self._conn = await asyncio.shield(connecting)
        finally:
            if self._connecting is connecting and connecting.done():
                self._connecting = None
        return self._conn

    async def execute(self, commands: Sequence[Sequence[bytes | str | int]]) -> list[object]:
        """Queue the commands (sent with those of other requests of this loop iteration); their replies."""
        conn = self._conn
        if conn is None or conn.lost:
            conn = await self._connection()
        waiter = conn.send(encode(commands), len(commands))
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.timeout, _expire, loop, conn, waiter, self.timeout)
        try:
            replies = await waiter
        finally:
            timer.cancel()
        for reply in replies:
            if isinstance(reply, RespError):
                raise reply
        return replies

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
