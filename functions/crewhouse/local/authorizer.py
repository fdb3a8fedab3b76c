"""How API Gateway renders a JWT authorizer's verified claims into a payload 2.0 event.

A route with a JWT authorizer (the verification itself is :class:`crewhouse.platform.jwt_verifier.JwtVerifier`)
hands its function ``requestContext.authorizer.jwt``; these helpers render the claims as AWS does, so
handlers see the same strings locally as in AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def render_claim(value: Any) -> str:
    """One claim value as API Gateway writes it into a payload 2.0 event.

    Observed AWS output: arrays become ``[a b]`` (space-separated, no quotes), numbers and booleans become
    their text (``1700000000``, ``true``), strings stay as they are; nested objects fall back to JSON text.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(render_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def event_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """All claims rendered for ``requestContext.authorizer.jwt.claims``; null-valued claims are left out, as in AWS."""
    return {name: render_claim(value) for name, value in claims.items() if value is not None}
