"""Search indexing: what typo (deletion) terms for body words cost per note, and which misspellings they find.

Run ``.venv/bin/python -m tests.bench.search_typo_terms``: it prints the tables of docs/cost.md ("Search indexing:
typo terms for body words"). Pure computation over ``crewhouse.search``: the notes' own weights and
``index_terms``, one index item per term (as ``SearchIndex.replace_document`` writes them, 25 a BatchWriteItem
for a new note), and the search's own lookup and ranking (``query_terms``, ``ranking.search`` with its typo
confirmation) over an index holding just that note. A misspelling is found when the search ranks the note.

Misspellings are made in every distinct word of 5+ letters of the body (and of the title), one edit each, at the
word's middle: a substituted letter (the doc's headline), a missing letter, an extra letter, two letters swapped,
and the last letter missing (a word typed short, which prefix terms can catch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from crewhouse.notes.projections import SEARCH_WEIGHTS
from crewhouse.search.ranking import search
from crewhouse.search.text import MAX_WORD_LENGTH, MIN_TYPO_LENGTH, index_terms, query_terms, tokens
from tests.bench.dynamodb_work import item_size
from tests.cost.prices import PRICES

BATCH = 25  # BatchWriteItem's limit
NOTE_ID = "01jf3q6m2k8x9v7w5t4r3p2n1b"
OWNER = "T#5f0c4a2e-8d1b-4c3a-9e7f-2b6d8a1c0e9f#note"  # as long as a tenant's note partition prefix

OPTIONS: list[tuple[str, int]] = [  # how the option is named, and index_terms' min_body_typo_length for it
    ("every word (5+ letters)", MIN_TYPO_LENGTH),
    ("body words of 6+ letters", 6),
    ("body words of 7+ letters", 7),
    ("titles and tags only", MAX_WORD_LENGTH + 1),
]


@dataclass(frozen=True)
class Note:
    name: str
    title: str
    body: str
    tags: tuple[str, ...] = ()

    def fields(self) -> dict[str, str]:
        return {"title": self.title, "tags": " ".join(self.tags), "checklist": "", "body": self.body}


NOTES = [
    # tests/cost/test_operation_costs.py's create_note: the "create a note" row of the cost table.
    Note("the cost test's note (title + 30 words)", "Battery launch",
         "The solar battery launches on May 3. It stores energy for twelve hours. Installers get training in "
         "April. The warranty lasts ten years. Pricing is announced at launch."),
    Note("a summary note (title, 150 words, 2 tags)", "Summary: quarterly planning review",
         "The planning review covered the third quarter's results and the plan for the next one. Revenue grew "
         "twelve percent, driven by the subscription tier and two enterprise contracts signed in August. Churn "
         "stayed below three percent, although support tickets rose after the billing migration. The team "
         "agreed to hire two engineers for the integrations backlog and one designer for the onboarding flow. "
         "Marketing will move budget from paid search to partner webinars, which brought the most qualified "
         "leads. The mobile release slips to November because the offline mode needs another round of testing "
         "on older devices. Security asked for a penetration test before the healthcare pilot starts. Finance "
         "will prepare a forecast with conservative and optimistic scenarios by the end of the month. Open "
         "questions: whether to raise prices for new customers in January, and who owns the partner "
         "programme after the reorganisation. Next review in four weeks, with the hiring plan, the webinar "
         "results and the pilot's security findings.",
         ("planning", "quarterly")),
]


# --- misspellings ---------------------------------------------------------------------------------------------

def _other_letter(letter: str, avoid: set[str], word: str, at: int) -> str:
    """The next letter of the alphabet that makes no word of the note."""
    for step in range(1, 26):
        candidate = chr((ord(letter) - ord("a") + step) % 26 + ord("a")) if letter.isascii() else "x"
        if word[:at] + candidate + word[at + 1:] not in avoid:
            return candidate
    return "x"


def substituted(word: str, avoid: set[str]) -> str:
    at = len(word) // 2
    return word[:at] + _other_letter(word[at], avoid, word, at) + word[at + 1:]


def missing(word: str, avoid: set[str]) -> str:
    at = len(word) // 2
    return word[:at] + word[at + 1:]


def extra(word: str, avoid: set[str]) -> str:
    at = len(word) // 2
    return word[:at] + word[at] + word[at:]


def swapped(word: str, avoid: set[str]) -> str:
    at = len(word) // 2
    return word[:at - 1] + word[at] + word[at - 1] + word[at + 1:]


def cut_short(word: str, avoid: set[str]) -> str:
    return word[:-1]


EDITS: dict[str, Callable[[str, set[str]], str]] = {
    "substituted": substituted, "missing": missing, "extra": extra, "swapped": swapped, "last missing": cut_short,
}


# --- measuring ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Measure:
    items: int
    typo_items: int
    batches: int
    write_units: int
    found: dict[tuple[str, str], tuple[int, int]]  # (field, edit) -> (found, of)
    short_found: dict[str, tuple[int, int]]  # edit -> (found, of) for body words of 5-6 letters


def _write_units(term: str, score: float) -> int:
    item = {"PK": {"S": f"{OWNER}#{term}"}, "SK": {"S": NOTE_ID}, "s": {"N": str(Decimal(f"{score:.4f}"))}}
    return math.ceil(item_size(item) / 1024)


def found_by_search(query: str, terms: Mapping[str, float], text: str) -> bool:
    lookups = query_terms(query)
    hits = {t.term: {NOTE_ID: terms[t.term]} for t in lookups if t.term in terms}
    ranked = search(lookups, hits, candidates=30, text_of=lambda ids: {i: text for i in ids if i == NOTE_ID})
    return any(doc_id == NOTE_ID for doc_id, _ in ranked)


def measure(note: Note, min_body_typo_length: int) -> Measure:
    fields = note.fields()
    terms = index_terms(fields, SEARCH_WEIGHTS, min_body_typo_length=min_body_typo_length)
    text = " ".join(fields.values())
    words = set(tokens(text))
    found: dict[tuple[str, str], tuple[int, int]] = {}
    short: dict[str, list[int]] = {edit: [0, 0] for edit in EDITS}
    for field in ("body", "title"):
        candidates = sorted({w for w in tokens(fields[field]) if len(w) >= MIN_TYPO_LENGTH})
        for edit, make in EDITS.items():
            hit = 0
            for word in candidates:
                ok = found_by_search(make(word, words), terms, text)
                hit += ok
                if field == "body" and len(word) <= 6:
                    short[edit][0] += ok
                    short[edit][1] += 1
            found[(field, edit)] = (hit, len(candidates))
    return Measure(items=len(terms), typo_items=sum(t.startswith("d:") for t in terms),
                   batches=math.ceil(len(terms) / BATCH), write_units=sum(_write_units(t, s) for t, s in terms.items()),
                   found=found, short_found={edit: (f, n) for edit, (f, n) in short.items()})


def _dollars_per_thousand(write_units: int) -> str:
    return f"{write_units * PRICES['dynamodb_write_unit'].dollars * 1000:.3f}"


def tables() -> str:
    lines = ["| note | typo terms for | index items | of which typo | BatchWriteItem | WCU | $ per 1,000 saves "
             "| misspelt body words found | misspelt title words found |",
             "|---|---|---|---|---|---|---|---|---|"]
    edits_lines = ["| typo terms for | " + " | ".join(EDITS) + " |", "|---|" + "---|" * len(EDITS)]
    short_lines = ["| typo terms for | " + " | ".join(EDITS) + " |", "|---|" + "---|" * len(EDITS)]
    totals: dict[str, dict[str, list[int]]] = {}
    shorts: dict[str, dict[str, list[int]]] = {}
    for note in NOTES:
        for index, (option, length) in enumerate(OPTIONS):
            m = measure(note, length)
            body, title = m.found[("body", "substituted")], m.found[("title", "substituted")]
            lines.append(f"| {note.name if index == 0 else ''} | {option} | {m.items:,} | {m.typo_items:,} "
                         f"| {m.batches} | {m.write_units:,} | {_dollars_per_thousand(m.write_units)} "
                         f"| {body[0]} / {body[1]} | {title[0]} / {title[1]} |")
            for edit in EDITS:
                total = totals.setdefault(option, {}).setdefault(edit, [0, 0])
                total[0] += m.found[("body", edit)][0]
                total[1] += m.found[("body", edit)][1]
                short = shorts.setdefault(option, {}).setdefault(edit, [0, 0])
                short[0] += m.short_found[edit][0]
                short[1] += m.short_found[edit][1]
    for option, _ in OPTIONS:
        edits_lines.append(f"| {option} | " + " | ".join(f"{f} / {n}" for f, n in totals[option].values()) + " |")
        short_lines.append(f"| {option} | " + " | ".join(f"{f} / {n}" for f, n in shorts[option].values()) + " |")
    return "\n".join([*lines, "", "Misspelt body words found, both notes, by the kind of typo:", "", *edits_lines, "",
                      "Of those, body words of 5 and 6 letters:", "", *short_lines])


if __name__ == "__main__":
    print(tables())
