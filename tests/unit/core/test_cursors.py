from collections.abc import Callable

import pytest

from crewhouse.core.cursors import decode_cursor, encode_cursor
from crewhouse.core.errors import BadRequest

KEY = b"k" * 32


def test_round_trip_keeps_the_position() -> None:
    position = {"PK": "TENANT#t#USER#u", "SK": "TASK#01H", "n": 3}
    cursor = encode_cursor(position, key=KEY, scope="t/u/tasks")
    assert decode_cursor(cursor, key=KEY, scope="t/u/tasks") == position


def test_cursor_is_opaque() -> None:
    cursor = encode_cursor({"SK": "TASK#secret-key-shape"}, key=KEY, scope="s")
    assert "TASK#" not in cursor


@pytest.mark.parametrize("mutate", [
    lambda c: c[:-2] + ("A" if c[-2] != "A" else "B") + c[-1],  # MAC changed
    lambda c: ("e" if c[0] != "e" else "f") + c[1:],  # payload changed
    lambda c: c.split(".")[0],  # MAC missing
    lambda c: "not-a-cursor",
    lambda c: "",
])
def test_tampered_cursor_is_a_400(mutate: Callable[[str], str]) -> None:
    cursor = encode_cursor({"SK": "x"}, key=KEY, scope="s")
    with pytest.raises(BadRequest) as raised:
        decode_cursor(mutate(cursor), key=KEY, scope="s")
    assert raised.value.status == 400


def test_cursor_from_another_scope_is_rejected() -> None:
    cursor = encode_cursor({"SK": "x"}, key=KEY, scope="tenant-a/user-a/tasks")
    with pytest.raises(BadRequest):
        decode_cursor(cursor, key=KEY, scope="tenant-b/user-b/tasks")


def test_cursor_signed_with_another_key_is_rejected() -> None:
    cursor = encode_cursor({"SK": "x"}, key=b"other-key", scope="s")
    with pytest.raises(BadRequest):
        decode_cursor(cursor, key=KEY, scope="s")
