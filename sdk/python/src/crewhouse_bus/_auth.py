"""Where the bearer token comes from: a fixed one (people) or the client-credentials exchange (agents)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from crewhouse_bus.errors import UnauthorizedError, error_from_response


class TokenSource(Protocol):
    def token(self) -> str: ...

    def invalidate(self) -> bool:
        """Forget the current token; ``True`` when a fresh one can be had (so a 401 is worth one more try)."""
        ...


class StaticToken:
    """A person's Cognito ID token: the SDK cannot renew it, so a 401 is final."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token

    def invalidate(self) -> bool:
        return False


class ClientCredentials:
    """OAuth 2.0 client credentials against ``POST /bus/token``, renewed before it expires.

    Renewal happens ``refresh_margin`` seconds early (or at 80 % of a short lifetime) so that a request never
    leaves with a token that expires in flight. Thread-safe: the heartbeat thread shares it.
    """

    def __init__(self, post_form: Callable[[str, dict[str, str]], httpx.Response], token_url: str,
                 client_id: str, client_secret: str, *,
                 refresh_margin: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._post_form = post_form
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        with self._lock:
            if self._access_token is None or self._clock() >= self._renew_at:
                self._exchange()
            assert self._access_token is not None
            return self._access_token

    def invalidate(self) -> bool:
        with self._lock:
            self._access_token = None
        return True

    def _exchange(self) -> None:
        started = self._clock()
        response = self._post_form(self._token_url, {
            "grant_type": "client_credentials", "client_id": self._client_id, "client_secret": self._client_secret,
        })
        if response.status_code != 200:
            raise error_from_response(response)
        body = response.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise UnauthorizedError(response.status_code, "Bad token response", "no access_token in the answer")
        lifetime = float(body.get("expires_in") or 300)
        early = min(self._refresh_margin, lifetime * 0.2)
        self._access_token = token
        self._renew_at = started + lifetime - early
