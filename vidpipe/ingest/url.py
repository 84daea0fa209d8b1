"""URL ingest with an SSRF guard: every hop is resolved, vetted and connected to by vetted address only."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from email.message import Message

import httpx

from vidpipe.errors import InputError, LimitExceededError, TransientError, UnsafeSourceError
from vidpipe.ingest.names import sanitize_filename

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CHUNK_SIZE = 64 * 1024
MAX_URL_LENGTH = 8192
_ALLOWED_SCHEMES = frozenset({"http", "https"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# 4xx that say "not now" rather than "never".
_TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})
# After IDNA encoding; httpx would otherwise percent-encode junk into the host.
_HOST_RE = re.compile(r"[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchResult:
    final_url: str
    content_type: str | None
    filename_hint: str | None
    size: int


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in resolver order (the default resolver of `fetch_url`)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)):
            raise TransientError(f"could not resolve {host}: {exc.strerror}") from exc
        raise InputError(f"could not resolve {host}: {exc.strerror}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def fetch_url(
    url: str,
    sink: Callable[[bytes], None],
    *,
    allow_networks: Sequence[str],
    max_bytes: int,
    timeout: float,
    max_redirects: int = 5,
    resolver: Resolver = resolve_host,
) -> FetchResult:
    """Stream `url` into `sink` chunk by chunk, refusing private addresses, oversize bodies and bad hops."""
    allowed = [ipaddress.ip_network(cidr, strict=False) for cidr in allow_networks]
    current = _parse(url)
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=httpx.Timeout(timeout)) as client:
        for _hop in range(max_redirects + 1):
            address = _vet(current, allowed, resolver)
            request = _pinned_request(client, current, address)
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise TransientError(f"timed out fetching {_display(current)}") from exc
            except httpx.TransportError as exc:
                raise TransientError(f"could not fetch {_display(current)}: {exc}") from exc
            with closing(response):
                if response.status_code in _REDIRECT_STATUSES:
                    current = _redirect_target(current, response)
                    continue
                _check_status(current, response)
                _check_declared_length(current, response, max_bytes)
                size = _stream(current, response, sink, max_bytes)
                return FetchResult(
                    final_url=str(current),
                    content_type=_content_type(response),
                    filename_hint=_filename_hint(current, response),
                    size=size,
                )
    raise InputError(f"too many redirects (more than {max_redirects}) starting at {_display(_parse(url))}")


def _parse(url: str) -> httpx.URL:
    if len(url) > MAX_URL_LENGTH:
        raise InputError("URL is too long")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise InputError(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in _ALLOWED_SCHEMES:
        raise UnsafeSourceError(f"only http and https URLs are accepted, not {parsed.scheme or 'a relative URL'}")
    if parsed.userinfo:
        # Never echo the URL here: it carries the credentials.
        raise UnsafeSourceError("URLs with embedded credentials (user:password@) are not accepted")
    if not parsed.host:
        raise InputError(f"URL has no host: {url}")
    if not _HOST_RE.fullmatch(parsed.raw_host.decode("ascii")) or not 0 < (parsed.port or 80) < 65536:
        raise InputError(f"not a valid host or port in URL: {url}")
    return parsed


def _vet(url: httpx.URL, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network], resolver: Resolver) -> str:
    """The address to connect to, after checking every address the host resolves to."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    literal = _parse_address(host)
    answers = [str(literal)] if literal is not None else resolver(host, port)
    if not answers:
        raise InputError(f"{url.host} did not resolve to any address")
    addresses: list[IPAddress] = []
    for answer in answers:
        address = _parse_address(answer)
        if address is None:
            raise UnsafeSourceError(f"{url.host} resolved to something that is not an address")
        reason = _refusal(address, allowed)
        if reason:
            # Any bad answer fails the host: we must not gamble on which one a later lookup returns.
            raise UnsafeSourceError(f"refusing {_display(url)}: {url.host} resolves to {reason} address {address}")
        addresses.append(address)
    return str(addresses[0])


def _parse_address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _refusal(address: IPAddress, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str | None:
    """Why `address` may not be contacted, or None; embedded IPv4 (6to4, Teredo, NAT64) is checked too."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.sixtofour is not None:
            candidates.append(address.sixtofour)
        if address.teredo is not None:
            candidates.append(address.teredo[1])
        if address in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    for candidate in candidates:
        if any(candidate.version == net.version and candidate in net for net in allowed):
            continue
        reason = _non_public_kind(candidate)
        if reason:
            return reason
    return None


def _non_public_kind(address: IPAddress) -> str | None:
    for kind, flag in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
        ("a non-public", not address.is_global),  # CGNAT, documentation ranges, benchmarking, ...
    ):
        if flag:
            return kind
    return None


def _pinned_request(client: httpx.Client, url: httpx.URL, address: str) -> httpx.Request:
    # Connect to the vetted address, not the name: a second lookup could answer differently.
    # Host header (and SNI plus certificate check, for https) still use the real host name.
    headers = {"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity"}
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    return client.build_request("GET", url.copy_with(host=address), headers=headers, extensions=extensions)


def _redirect_target(current: httpx.URL, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("Location")
    if not location:
        raise InputError(f"{_display(current)} redirected without a Location")
    try:
        target = current.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise InputError(f"{_display(current)} redirected to an invalid URL: {exc}") from exc
    return _parse(str(target))


def _check_status(url: httpx.URL, response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    message = f"{_display(url)} answered HTTP {status} {response.reason_phrase}".rstrip()
    if status >= 500 or status in _TRANSIENT_CLIENT_STATUSES:
        raise TransientError(message)
    raise InputError(message)


def _check_declared_length(url: httpx.URL, response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise LimitExceededError(f"{_display(url)} is {int(declared)} bytes, over the limit of {max_bytes} bytes")


def _stream(url: httpx.URL, response: httpx.Response, sink: Callable[[bytes], None], max_bytes: int) -> int:
    size = 0
    try:
        for chunk in response.iter_bytes(CHUNK_SIZE):
            size += len(chunk)
            if size > max_bytes:
                raise LimitExceededError(f"{_display(url)} is over the limit of {max_bytes} bytes")
            sink(chunk)
    except httpx.TimeoutException as exc:
        raise TransientError(f"timed out reading {_display(url)} after {size} bytes") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"connection lost reading {_display(url)} after {size} bytes: {exc}") from exc
    return size


def _content_type(response: httpx.Response) -> str | None:
    value = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return value or None


def _filename_hint(url: httpx.URL, response: httpx.Response) -> str | None:
    name: str | None = None
    disposition = response.headers.get("Content-Disposition")
    if disposition:
        message = Message()
        message["Content-Disposition"] = disposition
        try:
            name = message.get_filename()
        except (ValueError, LookupError):  # malformed RFC 2231 parameters
            name = None
    if not name:
        name = url.path.rsplit("/", 1)[-1]
    return sanitize_filename(name) if name and name.strip(" .") else None


def _display(url: httpx.URL) -> str:
    """The URL for messages: without query string, which often carries signatures or tokens."""
    return str(url.copy_with(query=None, fragment=None))
