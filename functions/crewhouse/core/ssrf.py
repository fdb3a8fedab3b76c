"""The SSRF guard: a URL that a user or a search result supplies is fetched only from a public address.

The threat: research fetches URLs it did not choose. Pointed at ``169.254.169.254`` (instance metadata), at a
private service in the VPC, or at loopback, a server-side fetch would read what only the function may read. So:

* only ``https`` (plain ``http`` only to loopback, and loopback only with ``allow_loopback``: the embedded
  cloud's local web); no credentials in the URL; a host and a valid port;
* the host is resolved and EVERY address it resolves to must be public: not private, loopback, link-local
  (which holds the metadata service), multicast, reserved, unspecified, shared (CGNAT), nor an IPv6 form that
  embeds such an IPv4 address (mapped, compatible, 6to4, Teredo, NAT64);
* :func:`fetch` resolves once per hop and its connections go only to the addresses that check passed (a network
  backend that never resolves a name itself), so a name that re-resolves elsewhere after the check (DNS
  rebinding) gains nothing; TLS still verifies the certificate against the host name;
* redirects are followed by hand, each one checked like the first; size and total time are capped.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "Crewhouse-Research/1.0"
ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
CGNAT = ipaddress.ip_network("100.64.0.0/10")  # shared address space: carrier NAT, not the internet
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d; ipaddress exposes no accessor
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix: the last 32 bits are an IPv4 address
# Each flag refused, with the word its reason uses; ``is_global`` afterwards catches what these do not name.
REFUSED_FLAGS = (("is_unspecified", "unspecified"), ("is_loopback", "loopback"), ("is_link_local", "link-local"),
                 ("is_multicast", "multicast"), ("is_reserved", "reserved"), ("is_private", "private"))


class UnsafeUrl(ValueError):
    """The URL may not be fetched; ``reason`` says why (e.g. "the address 10.0.0.5 is private")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchFailed(Exception):
    """The fetch was allowed but gave no page: a network error, the time limit, an error status."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchedPage:
    url: str  # the final URL, after redirects
    status: int
    content_type: str  # the media type, lower case, without parameters ("text/html")
    body: bytes  # at most max_bytes
    truncated: bool  # True when the body was cut at max_bytes


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries (the packet ends up there), or None."""
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is the host reached
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):  # :: and ::1 are not IPv4 forms
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IpAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``address`` may not be reached, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is that IPv4 address itself
            return refusal(address.ipv4_mapped, allow_loopback=allow_loopback)
        embedded = _embedded_ipv4(address)
        inner = refusal(embedded) if embedded is not None else None
        if inner:
            return f"the address {address} embeds {embedded}: {inner}"
        if address.scope_id is not None:  # fe80::1%eth0: judged without its zone
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    if address in METADATA:
        return f"the address {address} is the cloud metadata service"
    if address.is_loopback and allow_loopback:
        return None
    for flag, what in REFUSED_FLAGS:
        if getattr(address, flag):
            return f"the address {address} is {what}"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return f"the address {address} is shared address space (CGNAT)"
    if not address.is_global:
        return f"the address {address} is not public"
    return None


def resolve(host: str, port: int, *, allow_loopback: bool = False) -> list[IpAddress]:
    """Every address ``host`` resolves to, each one allowed; :class:`UnsafeUrl` if any is not."""
    try:
        found: list[IpAddress] = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise UnsafeUrl(f"the host {host} does not resolve") from error
        found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0])) for info in infos))
    if not found:
        raise UnsafeUrl(f"the host {host} has no address")
    for address in found:  # any one refused refuses the name: the client may pick any of them
        reason = refusal(address, allow_loopback=allow_loopback)
        if reason:
            raise UnsafeUrl(reason)
    return found


def _checked(scheme: str, host: str | None, port: int | None, has_userinfo: bool,
             allow_loopback: bool) -> list[IpAddress]:
    """The rules on a URL's parts; the addresses its host may be reached at."""
    if scheme not in DEFAULT_PORTS:
        raise UnsafeUrl(f"only http and https URLs are fetched, not {scheme or 'a relative URL'}")
    if has_userinfo:
        raise UnsafeUrl("URLs with credentials are not fetched")
    if not host:
        raise UnsafeUrl("the URL names no host")
    if port is not None and not 0 < port < 65536:
        raise UnsafeUrl(f"the port {port} is not valid")
    addresses = resolve(host, port or DEFAULT_PORTS[scheme], allow_loopback=allow_loopback)
    if scheme == "http" and not (allow_loopback and all(a.is_loopback for a in addresses)):
        raise UnsafeUrl("plain http is not fetched; use https")
    return addresses


def check_url(url: str, *, allow_loopback: bool = False) -> None:
    """Refuse (:class:`UnsafeUrl`) a URL that is not https to a public address (http to loopback with
    ``allow_loopback``)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl("the URL's port is not valid") from error
    _checked(parts.scheme.lower(), parts.hostname, port,
             parts.username is not None or parts.password is not None, allow_loopback)


@cache
def _guarded_backend_class() -> type:
    """Defined on first use: httpcore is imported by fetch only (module import stays cheap)."""
    import httpcore

    class DeadlineStream(httpcore.NetworkStream):
        """Every read and write waits at most until the fetch's deadline: a server dripping bytes cannot hold it
        past its time limit (httpcore's own timeouts are per operation)."""

        def __init__(self, stream: Any, deadline: float) -> None:
            self._stream = stream
            self._deadline = deadline

        def _left(self, timeout: float | None, error: type[Exception]) -> float:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise error("the fetch's time limit passed")
            return left if timeout is None else min(timeout, left)

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._stream.write(buffer, self._left(timeout, httpcore.WriteTimeout))

        def close(self) -> None:
            self._stream.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> DeadlineStream:
            # server_hostname is the URL's host (httpcore passes it), so SNI and the certificate check use the
            # name even though the socket was opened to an IP address.
            tls = self._stream.start_tls(ssl_context, server_hostname, self._left(timeout, httpcore.ConnectTimeout))
            return DeadlineStream(tls, self._deadline)

        def get_extra_info(self, info: str) -> Any:
            return self._stream.get_extra_info(info)

    class GuardedBackend(httpcore.SyncBackend):
        """Opens connections only to addresses :func:`fetch` checked for that host and port; never resolves."""

        def __init__(self, deadline: float) -> None:
            self.deadline = deadline
            self.checked: dict[tuple[str, int], list[IpAddress]] = {}  # (host, port) -> the addresses checked

        def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                        socket_options: Any = None) -> Any:
            addresses = self.checked.get((host.lower(), port))
            if not addresses:
                raise UnsafeUrl(f"the address of {host}:{port} was not checked")
            failure: Exception | None = None
            for address in addresses:  # in resolver order, like socket.create_connection
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise httpcore.ConnectTimeout("the fetch's time limit passed")
                try:
                    stream = super().connect_tcp(str(address), port, min(timeout or left, left), local_address,
                                                 socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                    failure = error
                    continue
                return DeadlineStream(stream, self.deadline)
            assert failure is not None
            raise failure

    return GuardedBackend


@cache
def _ssl_context(cafile: str | None, capath: str | None) -> Any:
    """httpx's default context (certifi's CAs, or SSL_CERT_FILE/SSL_CERT_DIR): certificate and host name checked.
    Made once per setting: loading the CAs costs more than a page fetch on loopback."""
    import httpx

    return httpx.create_ssl_context()


def _guarded_client(backend: Any, timeout: float) -> Any:
    """An httpx client whose every connection goes through ``backend``."""
    import httpcore
    import httpx

    ssl_context = _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    transport = httpx.HTTPTransport(verify=ssl_context, trust_env=False)
    # httpx 0.28's transport takes no network backend: its pool is replaced by one that has ours.
    assert isinstance(transport._pool, httpcore.ConnectionPool), "httpx's transport changed: review ssrf.fetch"
    transport._pool = httpcore.ConnectionPool(ssl_context=ssl_context, max_connections=4,
                                              network_backend=backend)
    # trust_env=False: no proxy from the environment (it would be connected to instead), no .netrc credentials.
    return httpx.Client(transport=transport, trust_env=False, follow_redirects=False, timeout=timeout,
                        headers={"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"})


def fetch(url: str, *, max_bytes: int = 2_000_000, timeout: float = 10.0, max_redirects: int = 5,
          allow_loopback: bool = False, headers: Mapping[str, str] | None = None) -> FetchedPage:
    """GET ``url`` within the guard: every hop checked, at most ``max_bytes`` of body, ``timeout`` seconds for all
    hops together. :class:`UnsafeUrl` for a refused URL (or too many redirects), :class:`FetchFailed` otherwise."""
    import httpx

    backend = _guarded_backend_class()(time.monotonic() + timeout)
    extra = dict(headers or {})
    try:
        target = httpx.URL(url.strip())
    except httpx.InvalidURL as error:
        raise UnsafeUrl(f"the URL is not valid ({error})") from error
    origin = None
    with _guarded_client(backend, timeout) as client:
        for hop in range(max_redirects + 1):
            host = target.raw_host.decode("ascii").lower()
            port = target.port or DEFAULT_PORTS.get(target.scheme, 0)
            # Checked here, connected to by the backend: the one resolution of this hop.
            backend.checked[(host, port)] = _checked(target.scheme, host, target.port, bool(target.userinfo),
                                                     allow_loopback)
            if origin is not None and origin != (target.scheme, host, port):
                extra = {}  # the caller's headers (an API key, say) go to the origin they were meant for only
            origin = (target.scheme, host, port)
            try:
                with client.stream("GET", target, headers=extra) as response:
                    if response.status_code in REDIRECTS and response.headers.get("location"):
                        if hop == max_redirects:
                            raise UnsafeUrl("too many redirects")
                        try:
                            target = target.join(response.headers["location"])
                        except httpx.InvalidURL as error:
                            raise UnsafeUrl(f"the redirect's URL is not valid ({error})") from error
                        continue
                    if not 200 <= response.status_code < 300:
                        raise FetchFailed(f"the site answered HTTP {response.status_code}")
                    body, truncated = _read(response, max_bytes)
            except httpx.TimeoutException as error:
                raise FetchFailed(f"timed out after {timeout:g} s") from error
            except httpx.TransportError as error:
                raise FetchFailed(f"the site could not be read ({type(error).__name__}: {error})") from error
            media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            return FetchedPage(url=str(target), status=response.status_code, content_type=media_type, body=body,
                               truncated=truncated)
    raise AssertionError("unreachable: the last hop returns or raises")


def _read(response: Any, max_bytes: int) -> tuple[bytes, bool]:
    """The body, decoded, cut after ``max_bytes``; read raw and inflated here with a bound, so a small compressed
    body cannot expand in memory past the cap (a decompression bomb)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower() or "identity"
    if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
        raise FetchFailed(f"the site sent an unsupported content encoding ({encoding})")
    inflater = None if encoding == "identity" else _Inflater(encoding)
    chunks: list[bytes] = []
    size = 0
    for raw in response.iter_raw():
        chunk = inflater.feed(raw, max_bytes - size + 1) if inflater else raw
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:  # one byte past the cap tells a cut body from one exactly max_bytes long
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False


class _Inflater:
    """gzip or deflate (zlib-wrapped, or raw as some servers send it), decoded at most ``limit`` bytes a call."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding != "deflate"
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._zlib.decompress(data, limit)
        except zlib.error as error:
            if self._gzip or self._started:
                raise FetchFailed(f"the site's compressed body is corrupt ({error})") from error
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no zlib header
            self._started = True
            return self.feed(data, limit)
        self._started = True
        return out
