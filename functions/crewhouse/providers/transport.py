"""The HTTP transport of ``openai_compatible`` providers: every connection goes to an address the SSRF guard
allows, resolved in the connection itself (a name that re-resolves to a private address after ``base_url`` was
checked on save, DNS rebinding, gains nothing). A refused address is a connection error, so the failover moves on.
"""

from __future__ import annotations

from typing import Any


def guarded_transport(*, allow_loopback: bool) -> Any:
    """An ``httpx.HTTPTransport`` (no redirects are followed by the provider's client) whose connections pass
    :func:`crewhouse.core.ssrf.resolve`."""
    import httpcore
    import httpx

    from crewhouse.core.ssrf import UnsafeUrl, resolve

    class GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None, socket_options: Any = None) -> Any:
            try:
                address = resolve(host, port, allow_loopback=allow_loopback)[0]
            except UnsafeUrl as refused:
                raise httpcore.ConnectError(f"refused by the SSRF guard: {refused.reason}") from refused
            return super().connect_tcp(str(address), port, timeout=timeout, local_address=local_address,
                                       socket_options=socket_options)

    transport = httpx.HTTPTransport()
    # httpx 0.28's HTTPTransport takes no network backend; its pool is rebuilt with ours (TLS still verifies and
    # sends SNI for the URL's host: only the TCP connection goes to the checked address).
    transport._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend())
    return transport
