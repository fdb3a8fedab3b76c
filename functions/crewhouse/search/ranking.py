"""Turn index hits into a relevance-ordered list of documents (shared by tasks and notes)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

from crewhouse.search.text import Match, QueryTerm, score, tokens, within_one_edit


def rank_documents(terms: list[QueryTerm], hits: Mapping[str, Mapping[str, float]]) -> list[tuple[str, float]]:
    """Documents with their score, best first (ties by id for a stable order)."""
    matches: dict[str, list[Match]] = defaultdict(list)
    for term in terms:
        for doc_id, stored in hits.get(term.term, {}).items():
            matches[doc_id].append((term, stored))
    ranked = [(doc_id, score(found)) for doc_id, found in matches.items()]
    ranked.sort(key=lambda pair: (-pair[1], pair[0]))
    return ranked


def confirm_typos(terms: list[QueryTerm], hits: Mapping[str, Mapping[str, float]], doc_id: str,
                  text: str) -> list[Match]:
    """The document's matches with unconfirmed typo hits dropped: sharing a deletion variant can
    also mean two edits, so a typo match stands only if a word of the text is within one edit."""
    words = set(tokens(text))
    kept: list[Match] = []
    for term in terms:
        stored = hits.get(term.term, {}).get(doc_id)
        if stored is None:
            continue
        if term.kind == "typo" and not any(within_one_edit(term.word, w) for w in words):
            continue
        kept.append((term, stored))
    return kept


def search(terms: list[QueryTerm], hits: Mapping[str, Mapping[str, float]], candidates: int,
           text_of: Callable[[list[str]], Mapping[str, str]]) -> list[tuple[str, float]]:
    """Rank, then re-score the best ``candidates`` with typo hits confirmed against their text."""
    shortlist = [doc_id for doc_id, _ in rank_documents(terms, hits)[:candidates]]
    texts = text_of(shortlist)
    rescored = []
    for doc_id in shortlist:
        if doc_id not in texts:
            continue  # deleted since it was indexed
        kept = confirm_typos(terms, hits, doc_id, texts[doc_id])
        if kept:
            rescored.append((doc_id, score(kept)))
    rescored.sort(key=lambda pair: (-pair[1], pair[0]))
    return rescored
