"""Runs of letters too long to be words stay out of the index (their terms would exceed DynamoDB's key limit)."""

from crewhouse.search.text import MAX_WORD_LENGTH, index_terms, query_terms, tokens


def test_overlong_runs_are_not_words() -> None:
    blob = "y" * 16_000
    assert tokens(f"before {blob} after") == ["before", "after"]
    assert tokens("a" * MAX_WORD_LENGTH) == ["a" * MAX_WORD_LENGTH]
    assert tokens("a" * (MAX_WORD_LENGTH + 1)) == []


def test_no_index_term_is_longer_than_a_word_plus_its_marker() -> None:
    terms = index_terms({"body": "x" * 5000 + " " + "z" * MAX_WORD_LENGTH}, {"body": 1.0})
    assert terms and max(len(t) for t in terms) <= MAX_WORD_LENGTH + 2
    assert query_terms("q" * 300) == []
