"""The SSRF guard's judgement of URLs and addresses, with name resolution faked (numeric hosts still go through the
real resolver, numerically only: it is what turns ``2130706433`` into 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from crewhouse.core.ssrf import UnsafeUrl, check_url, refusal, resolve

REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host name -> the addresses it resolves to; other names do not resolve."""
    names: dict[str, list[str]] = {"public.example": ["93.184.216.34"], "v6.example": ["2606:2800:220:1::1"],
                                   "dual.example": ["2606:2800:220:1::1", "93.184.216.34"]}

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host in names:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in names[host]]
        return REAL_GETADDRINFO(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.mark.parametrize("url", [
    "https://public.example/page",
    "https://PUBLIC.example/",  # host names are case-insensitive
    "https://v6.example/",
    "https://dual.example/",
    "https://93.184.216.34/x",
    "https://[2606:2800:220:1::1]/",
    "https://public.example:8443/a?b=c#d",
    "https://[::ffff:93.184.216.34]/",  # an IPv4-mapped public address is that public address
    "https://[2002:5db8:d822::1]/",  # 6to4 around a public address
])
def test_public_https_urls_pass(dns: dict[str, list[str]], url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://public.example/", "plain http is not fetched"),
    ("HTTP://public.example/", "plain http is not fetched"),
    ("ftp://public.example/", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("gopher://public.example/", "only http and https"),
    ("//public.example/", "only http and https"),
    ("https://user:pw@public.example/", "credentials"),
    ("https://user@public.example/", "credentials"),
    ("https://:pw@public.example/", "credentials"),
    ("https:///nohost", "no host"),
    ("https://public.example:99999/", "port"),
    ("https://public.example:0/", "port"),
    ("https://nowhere.example/", "does not resolve"),
    # the cloud metadata service, over IPv4 and IPv6 (EC2's Nitro address), and hidden in IPv6 forms
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://[::ffff:169.254.169.254]/", "metadata"),
    ("https://[::ffff:a9fe:a9fe]/", "metadata"),
    ("https://127.0.0.1/", "loopback"),
    ("https://127.1.2.3/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://2130706433/", "127.0.0.1 is loopback"),  # decimal IPv4, as resolvers accept it
    ("https://0x7f.1/", "127.0.0.1 is loopback"),  # hex and short forms too
    ("https://10.1.2.3/", "10.1.2.3 is private"),
    ("https://172.16.0.1/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://[fd12:3456::1]/", "private"),  # unique local
    ("https://100.64.0.1/", "shared address space"),
    ("https://100.127.255.254/", "shared address space"),
    ("https://169.254.10.10/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fe80::1%25eth0]/", "link-local"),  # with a zone
    ("https://0.0.0.0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://192.0.2.1/", "private"),  # documentation range: not public
    ("https://[::ffff:10.0.0.1]/", "10.0.0.1 is private"),  # IPv4-mapped
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[::a00:1]/", "embeds 10.0.0.1"),  # IPv4-compatible
    ("https://[2002:a00:1::]/", "embeds 10.0.0.1"),  # 6to4
    ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "embeds 10.0.0.1"),  # Teredo (client obfuscated)
    ("https://[64:ff9b::a9fe:a9fe]/", "embeds 169.254.169.254"),  # NAT64
])
def test_unsafe_urls_are_refused_with_a_reason(dns: dict[str, list[str]], url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason) as refused:
        check_url(url)
    assert refused.value.reason == str(refused.value)


@pytest.mark.parametrize(("name", "addresses", "reason"), [
    ("mixed.example", ["93.184.216.34", "10.0.0.7"], r"10\.0\.0\.7 is private"),
    ("mixed6.example", ["2606:2800:220:1::1", "fd00:ec2::254"], "metadata"),
    ("sneaky.example", ["127.0.0.1"], "loopback"),
    ("meta.example", ["169.254.169.254"], "metadata"),
    ("cgnat.example", ["93.184.216.34", "100.64.3.4"], "shared address space"),
])
def test_a_name_with_any_unsafe_address_is_refused(dns: dict[str, list[str]], name: str, addresses: list[str],
                                                   reason: str) -> None:
    dns[name] = addresses
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(f"https://{name}/")


def test_a_name_without_addresses_is_refused(dns: dict[str, list[str]]) -> None:
    dns["empty.example"] = []
    with pytest.raises(UnsafeUrl, match="no address"):
        check_url("https://empty.example/")


def test_loopback_and_plain_http_only_when_allowed_and_only_to_loopback(dns: dict[str, list[str]]) -> None:
    dns["localhost"] = ["::1", "127.0.0.1"]
    check_url("http://127.0.0.1:8123/search", allow_loopback=True)
    check_url("http://localhost:8123/", allow_loopback=True)
    check_url("https://localhost/", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url("http://localhost:8123/")
    with pytest.raises(UnsafeUrl, match="plain http"):
        check_url("http://public.example/", allow_loopback=True)  # loopback allowed is not http allowed
    dns["half.example"] = ["127.0.0.1", "93.184.216.34"]
    with pytest.raises(UnsafeUrl, match="plain http"):
        check_url("http://half.example/", allow_loopback=True)  # http only when every address is loopback
    with pytest.raises(UnsafeUrl, match="private"):
        check_url("http://10.0.0.1/", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match="metadata"):
        check_url("http://169.254.169.254/", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match="link-local"):
        check_url("http://169.254.0.1/", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match=r"embeds 127\.0\.0\.1"):
        check_url("https://[2002:7f00:1::]/", allow_loopback=True)  # loopback hidden in 6to4 is no local corpus


def test_resolve_answers_every_checked_address_once(dns: dict[str, list[str]]) -> None:
    dns["twice.example"] = ["93.184.216.34", "93.184.216.34", "2606:2800:220:1::1"]
    assert resolve("twice.example", 443) == [ipaddress.ip_address("93.184.216.34"),
                                             ipaddress.ip_address("2606:2800:220:1::1")]
    assert resolve("[2606:2800:220:1::1]", 443) == [ipaddress.ip_address("2606:2800:220:1::1")]


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888"])
def test_public_addresses_have_no_refusal(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
