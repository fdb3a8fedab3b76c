"""The SSRF guard's judgement of URLs and addresses, with name resolution faked."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from crewhouse.core.ssrf import UnsafeUrl, check_url


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host name -> the addresses it resolves to."""
    names: dict[str, list[str]] = {"public.example": ["93.184.216.34"], "v6.example": ["2606:2800:220:1::1"]}

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in names:
            raise socket.gaierror("no such name")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in names[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


@pytest.mark.parametrize("url", ["https://public.example/page", "https://v6.example/", "https://93.184.216.34/x",
                                 "https://public.example:8443/a?b=c"])
def test_public_https_urls_pass(dns: dict[str, list[str]], url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://public.example/", "plain http"),
    ("ftp://public.example/", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("https://user:pw@public.example/", "credentials"),
    ("https:///nohost", "no host"),
    ("https://nowhere.example/", "does not resolve"),
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://127.0.0.1/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://10.1.2.3/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://100.64.0.1/", "shared address space"),
    ("https://169.254.10.10/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[::ffff:10.0.0.1]/", "private"),  # an IPv4-mapped private address
    ("https://[2002:a00:1::]/", "private"),  # 6to4 around 10.0.0.1
])
def test_unsafe_urls_are_refused_with_a_reason(dns: dict[str, list[str]], url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        check_url(url)


def test_a_name_with_any_private_address_is_refused(dns: dict[str, list[str]]) -> None:
    dns["mixed.example"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(UnsafeUrl, match=r"10\.0\.0\.7 is private"):
        check_url("https://mixed.example/")
    dns["sneaky.example"] = ["127.0.0.1"]
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url("https://sneaky.example/")


def test_loopback_and_plain_http_only_when_allowed_and_only_to_loopback(dns: dict[str, list[str]]) -> None:
    dns["localhost"] = ["127.0.0.1"]
    check_url("http://127.0.0.1:8123/search", allow_loopback=True)
    check_url("http://localhost:8123/", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match="plain http"):
        check_url("http://public.example/", allow_loopback=True)  # loopback allowed is not http allowed
    with pytest.raises(UnsafeUrl, match="private"):
        check_url("http://10.0.0.1/", allow_loopback=True)
    with pytest.raises(UnsafeUrl, match="metadata"):
        check_url("http://169.254.169.254/", allow_loopback=True)
