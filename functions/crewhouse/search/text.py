"""Text analysis for the DynamoDB search index shared by tasks and notes.

DynamoDB has no full-text search, so each document is stored under a small set of *terms* (one
item per term, scored) and a query looks terms up exactly. Everything fuzzy is therefore decided
here, at write time and query time: exact words, ``p:`` prefixes for type-ahead, and ``d:``
SymSpell-style deletion variants for one typo. Pure logic: the store layer does the reads/writes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

EXACT = 1.0
PREFIX = 0.6
TYPO = 0.4
"""Per-kind factors: a whole word beats the start of a word, which beats a word with a typo."""

MIN_TYPO_LENGTH = 5
"""Shorter words get no typo tolerance: "bnak" would match far too many four-letter words."""
MIN_BODY_TYPO_LENGTH = 5
"""The same for words of body fields (weight 1 or less: a note's body, a task's description). Typo terms are
more than half of a note's index items; docs/cost.md ("Search indexing") measures the trade, with
``tests/bench/search_typo_terms.py``."""
MIN_PREFIX_LENGTH = 2
MAX_PREFIX_LENGTH = 20
"""Longer prefixes are not stored; a query word beyond this is looked up by its first 20 letters."""
MAX_TERMS = 2000
"""Per-document cap (items written per save); the lowest-scored terms are dropped first."""
MAX_WORD_LENGTH = 64
"""Longer runs of letters (pasted hashes, base64, ``yyyy…``) are not words: indexing one would exceed the
2048-byte key limit of the index table, and nobody searches for them."""

STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
    "to", "was", "will", "with",
})  # fmt: skip
"""Lucene's classic English list: frequent enough to match everything, so they only cost items."""

_WORD = re.compile(r"[^\W_]+")

Kind = Literal["exact", "prefix", "typo"]


@dataclass(frozen=True)
class QueryTerm:
    """One lookup: ``term`` is read from the index; ``word`` is the query word it serves."""

    term: str
    word: str
    kind: Kind


Match = tuple[QueryTerm, float]
"""A query term found for a document, with the score stored for that term in that document."""


def tokens(text: str) -> list[str]:
    """Lower-cased words without accents (``Café`` and ``cafe`` are one word); stopwords, 1-letter words and
    words over :data:`MAX_WORD_LENGTH` letters dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return [word for word in _WORD.findall(plain)
            if 1 < len(word) <= MAX_WORD_LENGTH and word not in STOPWORDS]


def deletions(word: str) -> set[str]:
    """Every string made by deleting one character of ``word``."""
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def index_terms(fields: Mapping[str, str], weights: Mapping[str, float], *,
                min_body_typo_length: int = MIN_BODY_TYPO_LENGTH) -> dict[str, float]:
    """The scored terms to store for one document (e.g. ``{"title": ..., "description": ...}``).

    For every word, weighted by its field (give the title more than the description):

    - the word itself, ``weight x 1.0``;
    - ``"p:" + prefix`` for each proper prefix of 2 to 20 letters, ``weight x 0.6``;
    - for words of 5+ letters (of ``min_body_typo_length`` in fields weighted 1 or less),
      ``"d:" + word`` and ``"d:" + v`` for each one-deletion variant ``v``, ``weight x 0.4``.
      Storing the word itself under ``d:`` is what lets a query with an extra letter ("finnance")
      find it, see :func:`query_terms`.

    A term found in several fields keeps its best score. Past :data:`MAX_TERMS` the lowest scores
    (typo variants of description words first) are dropped.
    """
    scores: dict[str, float] = {}

    def put(term: str, score: float) -> None:
        if score > scores.get(term, 0.0):
            scores[term] = score

    for field, text in fields.items():
        if field not in weights:
            raise ValueError(f"no weight for field {field!r}")
        weight = weights[field]
        min_typo_length = MIN_TYPO_LENGTH if weight > 1.0 else max(MIN_TYPO_LENGTH, min_body_typo_length)
        for word in tokens(text):
            put(word, weight * EXACT)
            for length in range(MIN_PREFIX_LENGTH, min(len(word), MAX_PREFIX_LENGTH + 1)):
                put("p:" + word[:length], weight * PREFIX)
            if len(word) >= min_typo_length:
                for variant in {word} | deletions(word):
                    put("d:" + variant, weight * TYPO)
    if len(scores) > MAX_TERMS:
        kept = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:MAX_TERMS]
        scores = dict(kept)
    return scores


def query_terms(q: str) -> list[QueryTerm]:
    """The index lookups for a search string, grouped by query word.

    Each word is looked up exactly, and as ``p:`` + word (the word is the start of an indexed
    word). Words of 5+ letters also get typo lookups, SymSpell's trick: two words are within one
    edit when they share a one-deletion variant, or one *is* a one-deletion of the other. With the
    index holding ``d:`` + word and its deletions, the query asks for ``d:`` + word and ``d:`` + each
    of its deletions. That covers, for one edit:

    - substitution ("finanse"/"finance": both delete to "finane");
    - adjacent transposition ("fniance": delete either swapped letter);
    - a missing letter in the query ("fiance" is a deletion of "finance": query ``d:fiance``);
    - an extra letter in the query ("finnance" deletes to "finance": indexed ``d:finance``).

    Sharing a deletion variant also happens for some two-edit pairs ("abcde"/"bcdef" share
    "bcde"), so typo hits are candidates; :func:`within_one_edit` confirms when the text is at hand.
    """
    terms: list[QueryTerm] = []
    for word in dict.fromkeys(tokens(q)):
        terms.append(QueryTerm(word, word, "exact"))
        terms.append(QueryTerm("p:" + word[:MAX_PREFIX_LENGTH], word, "prefix"))
        if len(word) >= MIN_TYPO_LENGTH:
            for variant in sorted({word} | deletions(word)):
                terms.append(QueryTerm("d:" + variant, word, "typo"))
    return terms


def score(matches: Iterable[Match]) -> float:
    """Rank a document from its matched terms: more query words first, then how well they matched.

    The integer part is the number of distinct query words matched, so matching all words always
    beats matching some. The fraction grows with the mean of each word's best stored score, which
    already carries field weight x kind (exact 1.0 > prefix 0.6 > typo 0.4).
    """
    best: dict[str, float] = {}
    for term, stored in matches:
        if stored > best.get(term.word, 0.0):
            best[term.word] = stored
    if not best:
        return 0.0
    quality = sum(best.values()) / len(best)
    return len(best) + quality / (1.0 + quality)


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one substitution, insertion, deletion or adjacent swap."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    start = 0
    while start < len(a) and a[start] == b[start]:
        start += 1
    if len(a) < len(b):
        return a[start:] == b[start + 1 :]
    if a[start + 1 :] == b[start + 1 :]:
        return True  # substitution
    return a[start : start + 2] == b[start : start + 2][::-1] and a[start + 2 :] == b[start + 2 :]
