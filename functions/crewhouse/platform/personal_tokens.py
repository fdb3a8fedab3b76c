"""Personal access tokens: their text, its checksum, and the keyed hash that is all the platform table keeps.

A token reads ``chp_`` + 30 random base62 characters (178 bits) + a 6-character CRC32 of them, like GitHub's
``ghp_`` tokens: secret scanners recognise the prefix, and a mistyped token fails its checksum before any
lookup. Stored is only HMAC-SHA256(key, token), the key in Secrets Manager: a leaked table reveals no token
and cannot be brute-forced offline without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crewhouse.platform.settings import TokenHashSettings

PREFIX = "chp_"
# The same format, told apart by prefix: an agent's client secret, and the access token it trades it for.
AGENT_SECRET_PREFIX = "chs_"
AGENT_TOKEN_PREFIX = "cha_"
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_LENGTH = 30
CHECKSUM_LENGTH = 6
TOKEN_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
SHOWN_PREFIX_LENGTH = len(PREFIX) + 4  # what the token list shows, to tell tokens apart


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_LENGTH)


def mint(prefix: str = PREFIX) -> str:
    """A new token (shown to its owner once)."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return prefix + random_part + _checksum(random_part)


def looks_like_personal_token(token: str) -> bool:
    """Whether a bearer value is meant as a personal token (its prefix), well formed or not."""
    return token.startswith(PREFIX)


def well_formed(token: str, prefix: str = PREFIX) -> bool:
    """Prefix, length, alphabet and checksum: a typo is refused here, without a lookup."""
    if len(token) != TOKEN_LENGTH or not token.startswith(prefix):
        return False
    body = token[len(prefix):]
    if any(character not in ALPHABET for character in body):
        return False
    random_part, checksum = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return hmac.compare_digest(_checksum(random_part), checksum)


def shown_prefix(token: str) -> str:
    return token[:SHOWN_PREFIX_LENGTH]


def token_digest(key: bytes, token: str) -> str:
    """The keyed hash under which a token is stored and looked up."""
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def token_hash_key(settings: TokenHashSettings) -> bytes:
    """The keyed hash's key, from Secrets Manager (one read per container and quarter hour)."""
    from crewhouse.core.aws import secret_key

    return secret_key(settings, settings.token_hash_secret_arn, settings.token_hash_key, name="TOKEN_HASH_SECRET_ARN")
