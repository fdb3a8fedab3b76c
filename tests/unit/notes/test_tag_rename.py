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


class Pages:
    """Tagged items of one kind, ``size`` a page."""

    def __init__(self, items: list[tuple[str, list[str]]]) -> None:
        self.items = items

    def tags_page(self, identity: Identity, start: Any, limit: int = 100) -> tuple[list[tuple[str, list[str]]], Any]:
        offset = int(start or 0)
        return self.items[offset:offset + limit], offset + limit if offset + limit < len(self.items) else None


class Recording(Index):
    def __init__(self) -> None:
        super().__init__([])
        self.replaced: list[tuple[str, str, tuple[str, ...]]] = []

    def replace_tags(self, owner: str, kind: str, item_id: str, old: Any, new: Any) -> None:
        assert owner == "T#t#U#u" and tuple(old) == ()
        self.replaced.append((kind, item_id, tuple(new)))


def test_reindex_reaches_every_page_of_each_kind_and_stops_in_time() -> None:
    from crewhouse.notes.tags import reindex_tags

    tasks = Pages([(f"t{n}", ["Work"]) for n in range(230)])
    notes = Pages([("n1", ["home", "#home"])])
    index = Recording()
    reached, complete = reindex_tags(index, {"task": tasks, "note": notes}, ME)
    assert (reached, complete) == (Counter({"task": 230, "note": 1}), True)
    assert index.replaced[0] == ("task", "t0", ("work",)) and index.replaced[-1] == ("note", "n1", ("home",))

    ticks = iter(range(1000))
    stopped = Recording()
    reached, complete = reindex_tags(stopped, {"task": tasks, "note": notes}, ME, clock=lambda: next(ticks),
                                     budget=50)
    assert not complete and reached["task"] == len(stopped.replaced) < 230
