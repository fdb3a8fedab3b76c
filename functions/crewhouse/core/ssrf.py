"""The SSRF guard: every URL a user or a search result supplies is fetched only from a public address.

A Lambda in a VPC, or one with an IAM role, must never be made to fetch ``169.254.169.254`` (instance metadata),
a private service, or loopback. :func:`check_url` refuses such URLs after DNS resolution (every address a name
resolves to must be public); :func:`fetch` connects only to an address that passed the check (the resolution is
done once, in the connection itself, so a name that re-resolves to a private address between check and connect,
DNS rebinding, gains nothing), checks every redirect the same way, and caps size and time; :func:`post` does the
same for a POST (webhook deliveries), sharing the request loop with :func:`fetch`. Plain ``http`` and loopback
are allowed only with ``allow_loopback`` (the embedded cloud's local web, in local mode).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

USER_AGENT = "Crewhouse-Research/1.0"
CGNAT = ipaddress.ip_network("100.64.0.0/10")
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
REDIRECTS = (301, 302, 303, 307, 308)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """The URL may not be fetched: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchFailed(Exception):
    """The fetch was allowed but did not give a page (network error, time out, an error status)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchedPage:
    url: str  # after redirects
    status: int
    content_type: str  # media type, lower case, without parameters
    body: bytes
    truncated: bool  # cut at max_bytes


def _refusal(address: IpAddress, allow_loopback: bool) -> str | None:
    """Why ``address`` may not be reached, or None."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return _refusal(embedded, allow_loopback)
    if address in METADATA:
        return f"the address {address} is the cloud metadata service"
    if address.is_loopback:
        return None if allow_loopback else f"the address {address} is loopback"
    for flag, what in (("is_unspecified", "unspecified"), ("is_link_local", "link-local"),
                       ("is_multicast", "multicast"), ("is_private", "private"), ("is_reserved", "reserved")):
        if getattr(address, flag):
            return f"the address {address} is {what}"
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return f"the address {address} is shared address space"
    if not address.is_global:
        return f"the address {address} is not public"
    return None


def resolve(host: str, port: int, *, allow_loopback: bool) -> list[IpAddress]:
    """Every address ``host`` resolves to, all of them allowed; :class:`UnsafeUrl` otherwise."""
    try:
        literal: IpAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise UnsafeUrl(f"the host {host} does not resolve") from error
        found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
    for address in found:
        reason = _refusal(address, allow_loopback)
        if reason:
            raise UnsafeUrl(reason)
    if not found:
        raise UnsafeUrl(f"the host {host} has no address")
    return found


def _parts(url: str, allow_loopback: bool) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(f"only http and https URLs are fetched, not {parts.scheme or 'a relative URL'}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("URLs with credentials are not fetched")
    if not parts.hostname:
        raise UnsafeUrl("the URL names no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeUrl("the URL's port is not valid") from error
    return parts.scheme, parts.hostname, port


def check_url(url: str, *, allow_loopback: bool = False) -> None:
    """Refuse (:class:`UnsafeUrl`) a URL that is not https to a public address (http to loopback with
    ``allow_loopback``)."""
    scheme, host, port = _parts(url, allow_loopback)
    addresses = resolve(host, port, allow_loopback=allow_loopback)
    if scheme == "http" and not (allow_loopback and all(a.is_loopback for a in addresses)):
        raise UnsafeUrl("plain http is not fetched; use https")


def _guarded_backend(allow_loopback: bool) -> Any:
    import httpcore

    class GuardedBackend(httpcore.SyncBackend):
        """Connects to the checked address itself: what was checked is what is reached."""

        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None, socket_options: Any = None) -> Any:
            address = resolve(host, port, allow_loopback=allow_loopback)[0]
            return super().connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                       socket_options=socket_options)

    return GuardedBackend()


def fetch(url: str, *, max_bytes: int = 2_000_000, timeout: float = 10.0, max_redirects: int = 5,
          allow_loopback: bool = False, headers: Mapping[str, str] | None = None) -> FetchedPage:
    """GET ``url`` within the guard: at most ``max_bytes`` of body, ``timeout`` seconds for all hops together."""
    sent = {"user-agent": USER_AGENT, "accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
            **{k.lower(): v for k, v in (headers or {}).items()}}
    page = _exchange("GET", url, None, sent, max_bytes=max_bytes, timeout=timeout, max_redirects=max_redirects,
                     allow_loopback=allow_loopback)
    if not 200 <= page.status < 300:
        raise FetchFailed(f"the site answered HTTP {page.status}")
    return page


def post(url: str, body: bytes, *, headers: Mapping[str, str] | None = None, max_bytes: int = 4096,
         timeout: float = 10.0, max_redirects: int = 3, allow_loopback: bool = False) -> FetchedPage:
    """POST ``body`` to ``url`` within the guard (a webhook delivery), whatever status the receiver answers.

    Only 307 and 308 are followed (they keep the method and the body), each hop checked as :func:`fetch` checks
    it; any other redirect is the answer. :class:`UnsafeUrl` for a refused address, :class:`FetchFailed` for a
    network error or a time out; the answer's first ``max_bytes`` are kept."""
    sent = {"user-agent": USER_AGENT, **{k.lower(): v for k, v in (headers or {}).items()},
            "content-length": str(len(body))}
    return _exchange("POST", url, body, sent, max_bytes=max_bytes, timeout=timeout, max_redirects=max_redirects,
                     allow_loopback=allow_loopback)


def _exchange(method: str, url: str, body: bytes | None, headers: Mapping[str, str], *, max_bytes: int,
              timeout: float, max_redirects: int, allow_loopback: bool) -> FetchedPage:
    """One request and its redirects, every hop checked and connected to the checked address only."""
    import httpcore
    import httpx

    deadline = time.monotonic() + timeout
    follow = REDIRECTS if method == "GET" else (307, 308)
    with httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=2,
                                 network_backend=_guarded_backend(allow_loopback)) as pool:
        for _ in range(max_redirects + 1):
            check_url(url, allow_loopback=allow_loopback)
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchFailed("timed out")
            limits = {"connect": left, "read": left, "write": left, "pool": left}
            try:
                with pool.stream(method, url, headers=list(headers.items()), content=body,
                                 extensions={"timeout": limits}) as response:
                    location = _header(response.headers, b"location")
                    if response.status in follow and location:
                        url = urljoin(url, location)
                        continue
                    answer, truncated = _read(response, max_bytes, deadline)
            except httpcore.TimeoutException as error:
                raise FetchFailed("timed out") from error
            except (httpcore.NetworkError, httpcore.ProtocolError) as error:
                raise FetchFailed(f"the site could not be reached ({type(error).__name__})") from error
            media_type = (_header(response.headers, b"content-type") or "").split(";", 1)[0].strip().lower()
            return FetchedPage(url=url, status=response.status, content_type=media_type, body=answer,
                               truncated=truncated)
    raise UnsafeUrl("too many redirects")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _read(response: Any, max_bytes: int, deadline: float) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_stream():
        if time.monotonic() > deadline:
            raise FetchFailed("timed out")
        chunks.append(chunk)
        size += len(chunk)
        if size >= max_bytes:
            return b"".join(chunks)[:max_bytes], size > max_bytes
    return b"".join(chunks), False
