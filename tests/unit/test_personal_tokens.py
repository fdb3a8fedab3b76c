"""Personal access tokens without AWS: their text and checksum, the authorizer's judgement, and what a token's
grant lets its holder do."""

from __future__ import annotations

from typing import Any

import pytest

from crewhouse.core.errors import Forbidden
from crewhouse.core.identity import (
    Identity,
    principal_from_event,
    require_sign_in,
    require_token_grant,
    require_writer,
)
from crewhouse.platform.credentials import Refused, authenticate, bearer_value
from crewhouse.platform.jwt_verifier import AuthorizationError
from crewhouse.platform.personal_tokens import PREFIX, TOKEN_LENGTH, mint, shown_prefix, token_digest, well_formed

KEY = b"k" * 32
NOW = 1_800_000_000


class Records:
    """Token records by digest, and the uses the authorizer records."""

    def __init__(self, *records: dict[str, Any]) -> None:
        self.records = {r["digest"]: r for r in records}
        self.lookups = 0
        self.used: list[tuple[str, str, int]] = []

    def by_digest(self, digest: str) -> dict[str, Any] | None:
        self.lookups += 1
        return self.records.get(digest)

    def mark_used(self, principal_id: str, token_id: str, epoch: int) -> None:
        self.used.append((principal_id, token_id, epoch))


class Jwts:
    def __init__(self, claims: dict[str, Any] | None = None, error: str | None = None) -> None:
        self.claims, self.error = claims, error

    def verify(self, token: str) -> dict[str, Any]:
        if self.error:
            raise AuthorizationError(self.error)
        return dict(self.claims or {})


def record(token: str, **changes: Any) -> dict[str, Any]:
    return {"digest": token_digest(KEY, token), "principal_id": "ada", "tenant_id": "t1", "token_id": "tok1",
            "access": ["read"], "created_epoch": NOW - 10, "expires_epoch": NOW + 3600, **changes}


def judge(bearer: str, records: Records, jwts: Jwts | None = None) -> dict[str, Any]:
    return authenticate(bearer, jwts=jwts or Jwts(error="not a JWT"), tokens=records, hash_key=lambda: KEY, now=NOW)


# --- the token's text ------------------------------------------------------------------------------------------


def test_minted_tokens_are_prefixed_checksummed_and_distinct() -> None:
    tokens = {mint() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert token.startswith(PREFIX) and len(token) == TOKEN_LENGTH and well_formed(token)
        assert shown_prefix(token) == token[:8]


def test_a_typo_anywhere_fails_the_checksum() -> None:
    token = mint()
    for position in range(len(PREFIX), len(token)):
        replacement = "A" if token[position] != "A" else "B"
        assert not well_formed(token[:position] + replacement + token[position + 1:]), position
    assert not well_formed(token[:-1]) and not well_formed(token + "x") and not well_formed(token.upper())


def test_the_stored_digest_depends_on_the_key() -> None:
    token = mint()
    assert token_digest(KEY, token) == token_digest(KEY, token)
    assert token_digest(KEY, token) != token_digest(b"other-key", token)
    assert token not in token_digest(KEY, token)


# --- the authorizer's judgement ---------------------------------------------------------------------------------


def test_a_valid_token_identifies_its_owner_in_its_tenant_and_records_the_use() -> None:
    token = mint()
    records = Records(record(token, access=["read", "write"]))
    assert judge(bearer_value(f"Bearer {token}"), records) == {
        "credential": "personal-token", "sub": "ada", "tenant_id": "t1", "iat": NOW - 10, "token_id": "tok1",
        "token_access": "read write"}
    assert records.used == [("ada", "tok1", NOW)]


def test_a_mistyped_token_is_refused_without_a_lookup() -> None:
    token = mint()
    records = Records(record(token))
    with pytest.raises(Refused, match="checksum"):
        judge(token[:-1] + ("A" if token[-1] != "A" else "B"), records)
    assert records.lookups == 0


@pytest.mark.parametrize(("changes", "reason"), [({"expires_epoch": NOW}, "expired"), (None, "unknown or revoked")])
def test_expired_and_unknown_tokens_are_refused(changes: dict[str, Any] | None, reason: str) -> None:
    token = mint()
    records = Records(record(token, **changes)) if changes else Records()
    with pytest.raises(Refused, match=reason):
        judge(token, records)
    assert records.used == []


def test_a_cognito_token_is_verified_and_named_as_such() -> None:
    claims = {"sub": "ada", "tenant_id": "t1", "iat": NOW, "email": "ada@example.com", "token_use": "access",
              "scope": "crewhouse/tasks.read openid", "tenant_role": "admin"}
    context = judge("eyJ.header.sig", Records(), Jwts(claims))
    assert context == {"credential": "cognito", "sub": "ada", "iat": NOW, "tenant_id": "t1",
                       "email": "ada@example.com", "scope": "crewhouse/tasks.read openid", "token_use": "access"}
    with pytest.raises(Refused, match="expired"):
        judge("eyJ.header.sig", Records(), Jwts(error="the token has expired"))
    with pytest.raises(Refused):
        judge("", Records())


# --- what a grant allows ----------------------------------------------------------------------------------------


def identity(role: str = "member", access: frozenset[str] | None = None) -> Identity:
    return Identity(tenant_id="t1", user_id="ada", role=role, scopes=frozenset(), token_access=access)


def test_a_read_token_reads_and_is_refused_any_write_whatever_the_role() -> None:
    reader = identity("admin", frozenset({"read"}))
    assert require_writer(reader, "GET") is reader and require_token_grant(reader, "HEAD") is reader
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with pytest.raises(Forbidden) as refused:
            require_token_grant(reader, method)
        assert refused.value.slug == "read-only-token"
    writer = identity("member", frozenset({"read", "write"}))
    assert require_writer(writer, "POST") is writer
    with pytest.raises(Forbidden) as observer:
        require_writer(identity("observer", frozenset({"read", "write"})), "POST")
    assert observer.value.slug == "read-only-role"


def test_the_authorizer_context_becomes_the_principal() -> None:
    event = {"requestContext": {"authorizer": {"lambda": {
        "credential": "personal-token", "sub": "ada", "tenant_id": "t1", "iat": NOW, "token_id": "tok1",
        "token_access": "read"}}}}
    principal = principal_from_event(event)
    assert (principal.user_id, principal.tenant_id, principal.issued_at) == ("ada", "t1", NOW)
    assert principal.token_access == frozenset({"read"})
    with pytest.raises(Forbidden) as refused:
        require_sign_in(principal)
    assert refused.value.slug == "sign-in-required"
    signed_in = principal_from_event({"requestContext": {"authorizer": {"lambda": {
        "credential": "cognito", "sub": "ada", "iat": NOW, "scope": "crewhouse/tasks.read"}}}})
    assert signed_in.token_access is None and signed_in.scopes == frozenset({"crewhouse/tasks.read"})
    assert require_sign_in(signed_in) is signed_in
