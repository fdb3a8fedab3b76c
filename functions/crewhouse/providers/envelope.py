"""Envelope encryption of provider API keys: a fresh AES-256 data key from KMS per save, AES-GCM locally.

The KMS encryption context is ``{"tenant_id", "provider_id"}``: KMS refuses to decrypt the wrapped data key under
any other context, so a ciphertext copied to another tenant's (or provider's) record cannot be opened. The
AES-GCM associated data binds the same pair, so even a data key obtained some other way does not open a
ciphertext moved between records. Pure: KMS is a port (:class:`KeyService`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol

NONCE_BYTES = 12
AAD_LABEL = b"crewhouse/llm-provider-key/v1"


class KeyUnavailable(Exception):
    """KMS would not give the data key back (wrong context, a disabled key, no permission)."""


class KeyService(Protocol):
    def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, bytes]:
        """``(plaintext, wrapped)`` of a new AES-256 data key under ``context``."""
        ...

    def decrypt(self, wrapped: bytes, context: dict[str, str]) -> bytes:
        """The data key; :class:`KeyUnavailable` when KMS refuses."""
        ...


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes
    nonce: bytes
    wrapped_key: bytes


def encryption_context(tenant_id: str, provider_id: str) -> dict[str, str]:
    return {"tenant_id": tenant_id, "provider_id": provider_id}


def associated_data(tenant_id: str, provider_id: str) -> bytes:
    return b"\x00".join((AAD_LABEL, tenant_id.encode(), provider_id.encode()))


def seal(secret: str, tenant_id: str, provider_id: str, keys: KeyService) -> Sealed:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # only when a key is saved (cold starts)

    data_key, wrapped = keys.generate_data_key(encryption_context(tenant_id, provider_id))
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, secret.encode(), associated_data(tenant_id, provider_id))
    return Sealed(ciphertext, nonce, wrapped)


def unseal(sealed: Sealed, tenant_id: str, provider_id: str, keys: KeyService) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key = keys.decrypt(sealed.wrapped_key, encryption_context(tenant_id, provider_id))
    try:
        plain = AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, associated_data(tenant_id, provider_id))
    except InvalidTag as exc:
        raise KeyUnavailable("the key's ciphertext does not belong to this provider") from exc
    return plain.decode()
