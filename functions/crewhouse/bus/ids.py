"""The bus's ids: lower-case ULIDs (26 characters, time-ordered), for agents, contexts, streams and messages."""

from __future__ import annotations

import re

ULID_TEXT = re.compile(r"[0-9a-z]{26}")  # what a bus id looks like (use with fullmatch)


def new_id() -> str:
    from ulid import ULID

    return str(ULID()).lower()
