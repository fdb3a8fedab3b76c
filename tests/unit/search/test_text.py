"""Search terms: prefixes, one-typo matching for long words, and ranking, over an in-memory index."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crewhouse.search.text import (
    MAX_TERMS,
    QueryTerm,
    deletions,
    index_terms,
    query_terms,
    score,
    tokens,
    within_one_edit,
)

WEIGHTS = {"title": 2.0, "description": 1.0}
Index = dict[str, dict[str, float]]


def build(docs: dict[str, dict[str, str]]) -> Index:
    """What the store layer writes: one item per (term, document) with the term's score."""
    index: Index = defaultdict(dict)
    for doc_id, fields in docs.items():
        for term, value in index_terms(fields, WEIGHTS).items():
            index[term][doc_id] = value
    return index


def search(index: Index, q: str) -> list[str]:
    """What the store layer reads: look every query term up, then rank documents by score()."""
    found: dict[str, list[tuple[QueryTerm, float]]] = defaultdict(list)
    for term in query_terms(q):
        for doc_id, value in index.get(term.term, {}).items():
            found[doc_id].append((term, value))
    return sorted(found, key=lambda doc_id: (-score(found[doc_id]), doc_id))


def kinds(index: Index, q: str, doc_id: str) -> set[str]:
    return {term.kind for term in query_terms(q) if doc_id in index.get(term.term, {})}


def test_tokens_normalize_and_filter() -> None:
    assert tokens("Café DÉJÀ-vu: the Bank's ﬁnance 2024 x, Straße") == [
        "cafe", "deja", "vu", "bank", "finance", "2024", "strasse",
    ]  # fmt: skip
    assert tokens("to be or not to be") == []


def test_index_terms_shapes_and_scores() -> None:
    terms = index_terms({"title": "Finance", "description": "bank finance"}, WEIGHTS)
    assert terms["finance"] == 2.0  # best field wins
    assert terms["bank"] == 1.0
    assert terms["p:fin"] == pytest.approx(1.2)
    assert terms["p:ba"] == terms["p:ban"] == pytest.approx(0.6)
    assert terms["d:finance"] == terms["d:fiance"] == pytest.approx(0.8)
    assert not any(term.startswith("d:ban") for term in terms), "no typo variants below 5 letters"
    assert {t for t in terms if t.startswith("d:")} == {"d:" + v for v in deletions("finance") | {"finance"}}


def test_a_longer_body_typo_minimum_drops_only_body_words_typo_terms() -> None:
    fields = {"title": "Launch plan", "description": "energy storage warranty"}
    every = index_terms(fields, WEIGHTS)
    seven = index_terms(fields, WEIGHTS, min_body_typo_length=7)
    assert "d:launch" in seven and "d:energy" in every and "d:storage" in seven and "d:warranty" in seven
    assert "d:energy" not in seven and "d:enrgy" not in seven  # 6 letters, body: no typo terms
    assert {t for t in every if not t.startswith("d:")} == {t for t in seven if not t.startswith("d:")}
    # A minimum under five letters changes nothing: four-letter words never get typo terms.
    assert index_terms(fields, WEIGHTS, min_body_typo_length=2) == every


def test_index_terms_needs_a_weight_for_every_field() -> None:
    with pytest.raises(ValueError):
        index_terms({"body": "x"}, WEIGHTS)


def test_per_document_term_cap_keeps_the_best() -> None:
    description = " ".join(f"word{i:04d}abc" for i in range(400))
    terms = index_terms({"title": "quarterly report", "description": description}, WEIGHTS)
    assert len(terms) == MAX_TERMS
    assert terms["quarterly"] == 2.0 and terms["d:quarterly"] == pytest.approx(0.8)
    assert all(value >= 0.4 for value in terms.values())
    assert sum(1 for t in terms if not t.startswith(("p:", "d:"))) == 402  # no exact word was dropped


DOCS = {
    "bank": {"title": "call the bank", "description": ""},
    "finance": {"title": "finance review", "description": ""},
    "other": {"title": "water plants", "description": "buy soil"},
}


@pytest.mark.parametrize(("q", "expected"), [("ban", "bank"), ("fin", "finance"), ("fi", "finance"), ("wat", "other")])
def test_prefix_finds_words_being_typed(q: str, expected: str) -> None:
    index = build(DOCS)
    assert search(index, q) == [expected]
    assert kinds(index, q, expected) == {"prefix"}


@pytest.mark.parametrize("q", ["finanse", "finnance", "fiance", "fniance", "finanec", "FINANSE"])
def test_one_typo_in_long_words(q: str) -> None:
    index = build(DOCS)
    assert search(index, q) == ["finance"]
    assert kinds(index, q, "finance") == {"typo"}
    assert within_one_edit(tokens(q)[0], "finance")


@pytest.mark.parametrize("q", ["bnak", "bakn", "bamk", "ank"])
def test_no_typo_tolerance_below_five_letters(q: str) -> None:
    assert search(build(DOCS), q) == []


def test_two_typos_do_not_match() -> None:
    assert search(build(DOCS), "fimansx") == []


def test_title_outranks_description() -> None:
    index = build({"in-desc": {"title": "misc", "description": "invoice"}, "in-title": {"title": "invoice"}})
    assert search(index, "invoice") == ["in-title", "in-desc"]
    assert search(index, "invo") == ["in-title", "in-desc"]


def test_all_words_outrank_some_words() -> None:
    index = build(
        {
            "one-in-title": {"title": "bank"},
            "both-in-description": {"title": "misc", "description": "statement from the bank"},
        }
    )
    assert search(index, "bank statement") == ["both-in-description", "one-in-title"]


def test_exact_beats_prefix_beats_typo() -> None:
    index = build({"exact": {"title": "finance"}, "prefix": {"title": "finances"}, "typo": {"title": "fimance"}})
    assert search(index, "finance") == ["exact", "prefix", "typo"]


def test_score_counts_words_once_and_uses_the_best_match() -> None:
    bank = QueryTerm("bank", "bank", "exact")
    bank_prefix = QueryTerm("p:bank", "bank", "prefix")
    call = QueryTerm("call", "call", "exact")
    assert score([]) == 0.0
    assert score([(bank, 2.0), (bank_prefix, 1.2)]) == score([(bank, 2.0)])
    assert 1 < score([(bank, 2.0)]) < 2 < score([(bank, 0.4), (call, 0.4)])


def test_query_terms_shape() -> None:
    terms = query_terms("the Bank finance")
    assert {t.word for t in terms} == {"bank", "finance"}
    assert [t.term for t in terms if t.word == "bank"] == ["bank", "p:bank"]
    typo = {t.term for t in terms if t.kind == "typo"}
    assert typo == {"d:" + v for v in deletions("finance") | {"finance"}}


LETTERS = "abcdefghijklmnopqrstuvwxyz"


@st.composite
def word_and_one_edit(draw: st.DrawFn) -> tuple[str, str]:
    word = draw(st.text(alphabet=LETTERS, min_size=6, max_size=12))
    kind = draw(st.sampled_from(["substitute", "insert", "delete", "transpose"]))
    i = draw(st.integers(min_value=0, max_value=len(word) - 2))
    letter = draw(st.sampled_from(LETTERS))
    edited = {
        "substitute": word[:i] + letter + word[i + 1 :],
        "insert": word[:i] + letter + word[i:],
        "delete": word[:i] + word[i + 1 :],
        "transpose": word[:i] + word[i + 1] + word[i] + word[i + 2 :],
    }[kind]
    return word, edited


def levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


@given(word_and_one_edit())
def test_any_single_edit_of_a_long_word_is_found(pair: tuple[str, str]) -> None:
    word, edited = pair
    index = build({"doc": {"title": word}})
    assert search(index, edited) == ["doc"]
    assert search(build({"doc": {"title": edited}}), word) == ["doc"]  # and the other way round


@given(st.text(alphabet="abc", min_size=5, max_size=7), st.text(alphabet="abc", min_size=5, max_size=7))
def test_typo_candidates_are_never_further_than_two_edits(indexed: str, q: str) -> None:
    index = build({"doc": {"title": indexed}})
    hit = bool(search(index, q))
    if levenshtein(indexed, q) <= 1:
        assert hit
    if hit and not indexed.startswith(q):
        assert levenshtein(indexed, q) <= 2
        assert within_one_edit(indexed, q) == (levenshtein(indexed, q) <= 1 or _is_transposition(indexed, q))


def _is_transposition(a: str, b: str) -> bool:
    return len(a) == len(b) and any(a[:i] + a[i + 1] + a[i] + a[i + 2 :] == b for i in range(len(a) - 1))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("finance", "finance", True), ("finance", "finanse", True), ("finance", "fiance", True),
     ("finance", "finnance", True), ("finance", "fniance", True), ("abcde", "bcdef", False),
     ("finance", "fimansx", False), ("bank", "banking", False)],
)  # fmt: skip
def test_within_one_edit(a: str, b: str, expected: bool) -> None:
    assert within_one_edit(a, b) is expected
    assert within_one_edit(b, a) is expected
