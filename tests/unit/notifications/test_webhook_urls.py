"""Webhook URLs the guard refuses at registration, in the forms an attacker writes loopback, private and metadata
addresses in (decimal, octal and hex IPv4, IPv6 with an IPv4 inside, NAT64); numeric hosts resolve without DNS.
Named hosts and DNS rebinding are tests/unit/core/test_ssrf.py's and test_webhook_guard.py's (the POST path)."""

from __future__ import annotations

import pytest

from crewhouse.notifications.adapters import GuardedReceivers

STRICT = GuardedReceivers(allow_loopback=False, timeout=1)
LOCAL = GuardedReceivers(allow_loopback=True, timeout=1)


@pytest.mark.parametrize(("url", "reason"), [
    ("https://2130706433/", "127.0.0.1 is loopback"),  # decimal
    ("https://017700000001/", "127.0.0.1 is loopback"),  # octal
    ("https://0x7f.1/", "127.0.0.1 is loopback"),  # hex, short form
    ("https://2852039166/", "169.254.169.254 is the cloud metadata service"),  # decimal metadata
    ("https://0xa9.0xfe.0xa9.0xfe/", "metadata"),
    ("https://167772161/", "10.0.0.1 is private"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[::ffff:a9fe:a9fe]/", "metadata"),  # IPv4-mapped, hex
    ("https://[fc00::1]/", "private"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[64:ff9b::a9fe:a9fe]/", "reserved"),  # NAT64 of the metadata address
    ("https://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
    ("https://0/", "unspecified"),
])
def test_numeric_forms_of_internal_addresses_are_refused(url: str, reason: str) -> None:
    refusal = STRICT.check(url)
    assert refusal is not None and reason in refusal, refusal


def test_local_mode_allows_loopback_and_plain_http_to_it_only() -> None:
    assert LOCAL.check("http://2130706433:8123/hook") is None
    assert LOCAL.check("http://[::1]:8123/hook") is None
    assert "private" in (LOCAL.check("http://167772161/") or "")
    assert "metadata" in (LOCAL.check("http://2852039166/") or "")
    assert "plain http" in (LOCAL.check("http://93.184.216.34/") or "")
    assert STRICT.check("https://93.184.216.34/hook") is None
