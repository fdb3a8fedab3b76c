"""Renaming a tag: bounded in time, resumable, and a write that lost a race is tried once more."""

from collections import Counter
from typing import Any

import pytest

from crewhouse.core.errors import NotFound, PreconditionFailed, ValidationProblem
from crewhouse.core.identity import Identity
from crewhouse.notes.tags import rename_tag
from crewhouse.search.tags import TagCount, Tagged

ME = Identity(tenant_id="t", user_id="u", role="member", scopes=frozenset())


class Index:
    def __init__(self, members: list[Tagged]) -> None:
        self.members = members

    def counts(self, owner: str) -> list[TagCount]:
        return []

    def tagged(self, owner: str, tag: str, limit: int, start: dict[str, Any] | None
               ) -> tuple[list[Tagged], dict[str, Any] | None]:
        offset = int((start or {}).get("offset", 0))
        rest = self.members[offset + limit:]
        return self.members[offset:offset + limit], {"offset": offset + limit} if rest else None


class Items:
    """Items by id with their tags; ``races`` ids fail their first write as if changed meanwhile."""

    def __init__(self, tags: dict[str, list[str]], races: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.tags, self.races, self.calls = tags, set(races), 0

    def retag(self, identity: Identity, item_id: str, old: str, new: str, /) -> bool:
        self.calls += 1
        if item_id in self.races:
            self.races.discard(item_id)
            raise PreconditionFailed("changed")
        if old not in self.tags.get(item_id, []):
            return False
        self.tags[item_id] = list(dict.fromkeys(new if t == old else t for t in self.tags[item_id]))
        return True


def test_every_page_is_renamed_and_a_lost_race_is_retried() -> None:
    tasks = Items({f"t{n}": ["work"] for n in range(250)}, races={"t7"})
    notes = Items({"n1": ["work", "home"], "n2": ["home"]})
    members = [Tagged("task", f"t{n}") for n in range(250)] + [Tagged("note", "n1"), Tagged("note", "n2")]
    changed, complete = rename_tag(Index(members), {"task": tasks, "note": notes}, ME, "#Work", "home")
    assert complete and changed == Counter(task=250, note=1)
    assert set(map(tuple, tasks.tags.values())) == {("home",)} and notes.tags == {"n1": ["home"], "n2": ["home"]}


def test_out_of_time_it_stops_and_a_second_request_goes_on() -> None:
    tasks = Items({f"t{n}": ["work"] for n in range(10)})
    members = [Tagged("task", f"t{n}") for n in range(10)]
    ticks = iter(range(100))
    changed, complete = rename_tag(Index(members), {"task": tasks}, ME, "work", "job", clock=lambda: next(ticks),
                                   budget=4)
    assert not complete and 0 < changed["task"] < 10
    changed_again, complete = rename_tag(Index(members), {"task": tasks}, ME, "work", "job")
    assert complete and changed["task"] + changed_again["task"] == 10


def test_an_unused_tag_is_404_and_the_same_name_422() -> None:
    with pytest.raises(NotFound):
        rename_tag(Index([]), {}, ME, "nothing", "else")
    with pytest.raises(ValidationProblem):
        rename_tag(Index([Tagged("task", "t1")]), {}, ME, "#Work", "work")
