"""The guarded fetch against loopback servers: loopback only when allowed, every redirect checked, the address
checked is the address connected to (DNS rebinding), TLS verified against the host name, size and total time
capped."""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from crewhouse.core import ssrf
from crewhouse.core.ssrf import FetchFailed, UnsafeUrl, fetch

PAGE = b"<html><head><title>Hello</title></head><body><p>hello from the checked address</p></body></html>"
BIG = b"x" * 50_000
BOMB = gzip.compress(b"\0" * 20_000_000)  # 20 MB of zeros in about 20 kB
REAL_GETADDRINFO = socket.getaddrinfo
REAL_CREATE_CONNECTION = socket.create_connection


def _redirect(location: str, status: int = 302) -> tuple[int, dict[str, str], bytes]:
    return status, {"location": location}, b""


ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/page": (200, {"content-type": "text/HTML; charset=UTF-8"}, PAGE),
    "/to-page": _redirect("/page", 307),
    "/to-metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
    "/to-metadata-v6": _redirect("http://[fd00:ec2::254]/latest/meta-data/"),
    "/to-private": _redirect("http://10.0.0.1/", 301),
    "/to-mapped-private": _redirect("http://[::ffff:10.0.0.1]/"),
    "/to-ftp": _redirect("ftp://127.0.0.1/"),
    "/loop": _redirect("/loop"),
    "/big": (200, {"content-type": "text/plain"}, BIG),
    "/gzip": (200, {"content-type": "text/html", "content-encoding": "gzip"}, gzip.compress(PAGE)),
    "/deflate-raw": (200, {"content-type": "text/html", "content-encoding": "deflate"},
                     zlib.compress(PAGE)[2:-4]),  # raw deflate, as some servers send "deflate"
    "/bomb": (200, {"content-type": "text/plain", "content-encoding": "gzip"}, BOMB),
    "/brotli": (200, {"content-type": "text/plain", "content-encoding": "br"}, b"\x0b\x02\x80hi\x03"),
    "/missing": (404, {"content-type": "text/plain"}, b"no"),
}


@dataclass
class Site:
    url: str
    port: int
    hits: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # path, request headers


class SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real sites: redirects may reuse the connection
    site: Site

    def do_GET(self) -> None:
        self.site.hits.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/drip":  # a header line every 50 ms for 3 s: each read is quick, the whole is not
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for n in range(60):
                try:
                    self.wfile.write(f"x-drip-{n}: {n}\r\n".encode())
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)
            return
        if self.path.startswith("/chain/"):  # /chain/3 -> /chain/2 -> /chain/1 -> /chain/0 (a page)
            left = int(self.path.rsplit("/", 1)[1])
            status, headers, body = _redirect(f"/chain/{left - 1}") if left else (200, {}, b"end")
        elif self.path == "/echo":
            status, headers, body = 200, {"content-type": "application/json"}, json.dumps(
                self.site.hits[-1][1]).encode()
        elif self.path == "/to-other":  # another origin, same server: a name the fake DNS maps to loopback
            status, headers, body = _redirect(f"http://other.test:{self.site.port}/echo")
        else:
            status, headers, body = ROUTES.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in {**headers, "content-length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(host: str, port: int, handler: type[BaseHTTPRequestHandler],
           tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    # a short poll: shutdown() waits for it
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def _stop(*servers: ThreadingHTTPServer) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()


class ImpostorHandler(BaseHTTPRequestHandler):
    """Stands on 127.0.0.2 at the site's port: what a rebinding name would reach if it were resolved again."""

    def do_GET(self) -> None:
        body = b"impostor"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Site, ThreadingHTTPServer]]:
    """The site on 127.0.0.1 and an impostor on 127.0.0.2 at the same port."""
    for _ in range(20):
        site_server = _serve("127.0.0.1", 0, SiteHandler)
        port = site_server.server_address[1]
        try:
            impostor = _serve("127.0.0.2", port, ImpostorHandler)
        except OSError:  # that port is taken on 127.0.0.2: another one
            _stop(site_server)
            continue
        break
    else:
        pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")
    SiteHandler.site = Site(url=f"http://127.0.0.1:{port}", port=port)
    try:
        yield SiteHandler.site, impostor
    finally:
        _stop(site_server, impostor)


@pytest.fixture
def site(servers: tuple[Site, ThreadingHTTPServer]) -> Site:
    servers[0].hits.clear()
    return servers[0]


@dataclass
class Network:
    names: dict[str, list[str]] = field(default_factory=dict)  # name -> its answers, in turn (the last repeats)
    resolved: list[str] = field(default_factory=list)  # names looked up, in order
    dialled: list[tuple[str, int]] = field(default_factory=list)  # addresses connected to, in order


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    """A fake DNS for the names the test sets, and a record of every connection opened."""
    net = Network()

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in net.names:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)  # numeric addresses (create_connection's)
        net.resolved.append(host)
        answers = net.names[host]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answer.split(",")]

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        net.dialled.append(address)
        return REAL_CREATE_CONNECTION(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return net


def test_loopback_is_fetched_only_when_allowed(site: Site, network: Network) -> None:
    page = fetch(f"{site.url}/page", allow_loopback=True)
    assert page == ssrf.FetchedPage(url=f"{site.url}/page", status=200, content_type="text/html", body=PAGE,
                                    truncated=False)
    assert site.hits[-1][1]["user-agent"] == "Crewhouse-Research/1.0"
    with pytest.raises(UnsafeUrl, match=r"127\.0\.0\.1 is loopback"):
        fetch(f"{site.url}/page")
    network.names["localhost.test"] = ["127.0.0.1"]
    with pytest.raises(UnsafeUrl, match="loopback"):
        fetch(f"http://localhost.test:{site.port}/page")
    assert len(site.hits) == 1 and network.dialled == [("127.0.0.1", site.port)]  # the refusals connected nowhere


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://127.0.0.1/", "only http and https"),
    ("http://user:pw@127.0.0.1:{port}/page", "credentials"),
    ("http://127.0.0.1:99999/", "port"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
])
def test_refused_urls_are_never_connected_to(site: Site, network: Network, url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        fetch(url.format(port=site.port), allow_loopback=True)
    assert network.dialled == [] and site.hits == []


def test_every_redirect_is_checked(site: Site, network: Network) -> None:
    page = fetch(f"{site.url}/to-page", allow_loopback=True)
    assert (page.url, page.body) == (f"{site.url}/page", PAGE)
    for path, reason in [("/to-metadata", "169.254.169.254 is the cloud metadata service"),
                         ("/to-metadata-v6", "metadata"), ("/to-private", r"10\.0\.0\.1 is private"),
                         ("/to-mapped-private", r"10\.0\.0\.1 is private"), ("/to-ftp", "only http and https")]:
        with pytest.raises(UnsafeUrl, match=reason):
            fetch(site.url + path, allow_loopback=True)
    assert {host for host, _ in network.dialled} == {"127.0.0.1"}  # the redirect targets were never dialled


def test_redirects_are_counted(site: Site) -> None:
    assert fetch(f"{site.url}/chain/3", allow_loopback=True, max_redirects=3).body == b"end"
    with pytest.raises(UnsafeUrl, match="too many redirects"):
        fetch(f"{site.url}/chain/3", allow_loopback=True, max_redirects=2)
    site.hits.clear()
    with pytest.raises(UnsafeUrl, match="too many redirects"):
        fetch(f"{site.url}/loop", allow_loopback=True, max_redirects=4)
    assert len(site.hits) == 5  # the first request and four redirects followed, then it stops


def test_the_callers_headers_stay_with_their_origin(site: Site, network: Network) -> None:
    token = {"X-Subscription-Token": "secret-key"}
    assert json.loads(fetch(f"{site.url}/echo", allow_loopback=True, headers=token).body)[
        "x-subscription-token"] == "secret-key"
    network.names["other.test"] = ["127.0.0.1"]
    echoed = json.loads(fetch(f"{site.url}/to-other", allow_loopback=True, headers=token).body)
    assert echoed["host"] == f"other.test:{site.port}" and "x-subscription-token" not in echoed
    assert echoed["user-agent"] == "Crewhouse-Research/1.0"


def test_the_body_is_capped(site: Site) -> None:
    big = fetch(f"{site.url}/big", allow_loopback=True, max_bytes=10_000)
    assert big.body == BIG[:10_000] and big.truncated
    exact = fetch(f"{site.url}/big", allow_loopback=True, max_bytes=len(BIG))
    assert exact.body == BIG and not exact.truncated
    short = fetch(f"{site.url}/big", allow_loopback=True, max_bytes=len(BIG) - 1)
    assert len(short.body) == len(BIG) - 1 and short.truncated


def test_compressed_bodies_are_decoded_within_the_cap(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fetch(f"{site.url}/gzip", allow_loopback=True).body == PAGE
    assert fetch(f"{site.url}/deflate-raw", allow_loopback=True).body == PAGE
    inflated: list[int] = []
    feed = ssrf._Inflater.feed

    def measured(self: Any, data: bytes, limit: int) -> bytes:
        out = feed(self, data, limit)
        inflated.append(len(out))
        return out

    monkeypatch.setattr(ssrf._Inflater, "feed", measured)
    bomb = fetch(f"{site.url}/bomb", allow_loopback=True, max_bytes=100_000)
    assert bomb.body == b"\0" * 100_000 and bomb.truncated
    assert sum(inflated) <= 100_001  # never inflated past the cap, though 20 MB were on offer
    with pytest.raises(FetchFailed, match="unsupported content encoding"):
        fetch(f"{site.url}/brotli", allow_loopback=True)


def test_error_statuses_fail(site: Site) -> None:
    with pytest.raises(FetchFailed, match="HTTP 404") as failed:
        fetch(f"{site.url}/missing", allow_loopback=True)
    assert failed.value.reason == "the site answered HTTP 404"


def _timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except BaseException as error:
        return error, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_slow_site_hits_the_time_limit(site: Site) -> None:
    error, took = _timed(lambda: fetch(f"{site.url}/slow", allow_loopback=True, timeout=0.3))
    assert isinstance(error, FetchFailed) and "timed out" in error.reason
    assert took < 1.0  # before the site answers (after 1 s); generous, for a busy machine


def test_the_time_limit_covers_the_whole_fetch_not_each_read(site: Site) -> None:
    """Headers dripped a line every 50 ms: no single read waits long, the response takes 3 s."""
    error, took = _timed(lambda: fetch(f"{site.url}/drip", allow_loopback=True, timeout=0.4))
    assert isinstance(error, FetchFailed) and "timed out" in error.reason
    assert took < 2.5  # the headers take 3 s; generous, for a busy machine


def test_a_name_with_one_private_address_is_refused(site: Site, network: Network) -> None:
    network.names["mixed.test"] = ["127.0.0.1,10.0.0.1"]
    with pytest.raises(UnsafeUrl, match=r"10\.0\.0\.1 is private"):
        fetch(f"http://mixed.test:{site.port}/page", allow_loopback=True)
    assert network.dialled == [] and site.hits == []


def test_the_connection_goes_to_the_address_that_was_checked(servers: tuple[Site, ThreadingHTTPServer],
                                                             network: Network) -> None:
    """DNS rebinding: the name answers the site's address for the check, then an impostor's. The connection
    must go to the address checked: the name is resolved once, and the page is the site's."""
    site = servers[0]
    network.names["rebind.test"] = ["127.0.0.1", "127.0.0.2"]
    page = fetch(f"http://rebind.test:{site.port}/page", allow_loopback=True)
    assert page.body == PAGE
    assert network.resolved == ["rebind.test"] and network.dialled == [("127.0.0.1", site.port)]
    # The test can tell: resolved again, the name now leads to the impostor.
    with httpx.Client(trust_env=False) as plain:
        assert plain.get(f"http://rebind.test:{site.port}/page").text == "impostor"


def test_each_redirect_hop_connects_to_what_it_checked(site: Site, network: Network) -> None:
    network.names["hop.test"] = ["127.0.0.1", "10.0.0.1"]  # the redirect's check sees the rebinding
    with pytest.raises(UnsafeUrl, match=r"10\.0\.0\.1 is private"):
        fetch(f"http://hop.test:{site.port}/to-page", allow_loopback=True)
    assert network.resolved == ["hop.test", "hop.test"] and network.dialled == [("127.0.0.1", site.port)]


def test_the_backend_never_connects_to_an_unchecked_host(site: Site, network: Network) -> None:
    backend = ssrf._guarded_backend_class()(time.monotonic() + 5)
    with pytest.raises(UnsafeUrl, match="was not checked"):
        backend.connect_tcp("127.0.0.1", site.port, timeout=1)
    backend.checked[("name.test", site.port)] = [ipaddress.ip_address("127.0.0.1")]
    with pytest.raises(UnsafeUrl, match="was not checked"):
        backend.connect_tcp("name.test", site.port + 1, timeout=1)  # checked for another port only
    backend.connect_tcp("name.test", site.port, timeout=1).close()
    assert network.dialled == [("127.0.0.1", site.port)] and network.resolved == []


# TLS: a CA made for the test, trusted through SSL_CERT_FILE (httpx's own setting), and a certificate for one name.


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, list[str | None], Path]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def certificate(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> Any:
        now = datetime.datetime.now(datetime.UTC)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False), critical=True)
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                            critical=False)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer.public_key()), critical=False)
        return builder.sign(signer, hashes.SHA256())

    directory = tmp_path_factory.mktemp("tls")
    ca_key, site_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("Crewhouse test CA", ca_key, "Crewhouse test CA", ca_key, ca=True)
    site_cert = certificate("secure.test", site_key, "Crewhouse test CA", ca_key, ca=False)
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (directory / "site.pem").write_bytes(site_cert.public_bytes(serialization.Encoding.PEM) + site_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server_names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "site.pem")
    context.sni_callback = lambda _socket, name, _context: server_names.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", "6")
            self.end_headers()
            self.wfile.write(b"secure")

        def log_message(self, *args: Any) -> None:
            pass

    server = _serve("127.0.0.1", 0, Handler, tls=context)
    try:
        yield server.server_address[1], server_names, directory / "ca.pem"
    finally:
        _stop(server)


def test_tls_verifies_the_host_name_though_the_address_is_dialled(
        tls_site: tuple[int, list[str | None], Path], network: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    port, server_names, ca = tls_site
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    network.names["secure.test"] = ["127.0.0.1"]
    network.names["wrong.test"] = ["127.0.0.1"]
    page = fetch(f"https://secure.test:{port}/", allow_loopback=True)
    assert page.body == b"secure" and network.dialled == [("127.0.0.1", port)]
    assert server_names[-1] == "secure.test"  # SNI: the name, not the address
    with pytest.raises(FetchFailed, match="could not be read"):  # the certificate is for secure.test only
        fetch(f"https://wrong.test:{port}/", allow_loopback=True)
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(FetchFailed, match="could not be read"):  # and only a trusted CA's certificate is taken
        fetch(f"https://secure.test:{port}/", allow_loopback=True)
