"""Tokens signed with moto's Cognito key: valid in every way except what a test changes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import jwt
import moto.cognitoidp

MOTO_SIGNING_KEY = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"


def resigned(token: str, **changes: Any) -> str:
    """The token re-signed with the pool's own key after ``changes``."""
    key = json.loads(gzip.decompress(MOTO_SIGNING_KEY.read_bytes()))
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(changes)
    return jwt.encode(claims, jwt.PyJWK(key).key, algorithm="RS256", headers={"kid": key["kid"]})
