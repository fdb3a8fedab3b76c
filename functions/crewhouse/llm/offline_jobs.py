"""The offline provider's answers to agent-job requests: deterministic, no model, labelled in every answer.

A job request is recognised by its tagged system prompt (see :mod:`crewhouse.llm.job_prompts`). Each job
gets an honest stand-in for what a model would write:

- ``summarize``: an extractive summary. Sentences are ranked by the frequency of their content words across
  all sources (a focus boosts sentences that mention it); the best ones are kept in their original order.
- ``research``: a report assembled from the sources' own sentences, the most relevant to the topic and to
  each question, every one cited with its source number.
- ``content``: a templated draft whose sections come from the brief, shaped by format and tone, with
  bracketed placeholders where a writer has to add substance.
- ``analyze``: a narrative that restates the statistics the job computed (the numbers are never invented).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from crewhouse.llm.job_prompts import JobRequest, SourceBlock, format_number, parse_request
from crewhouse.llm.offline import LABEL
from crewhouse.llm.provider import ConverseResult, Message
from crewhouse.search.text import STOPWORDS, tokens

NOTICE = "Generated offline, without a language model"
SUMMARY_SENTENCES = {"short": 3, "medium": 6, "long": 12}
NEAR_DUPLICATE = 0.6  # Jaccard overlap of content words above which a sentence repeats one already kept

# Frequent function words the search index keeps (it matches them) but that say nothing about a text's subject.
_FILLER = frozenset({
    "about", "after", "again", "all", "also", "am", "any", "because", "been", "before", "being", "both", "can",
    "could", "did", "do", "does", "doing", "done", "each", "few", "had", "has", "have", "having", "he", "her",
    "here", "him", "his", "how", "i", "its", "just", "me", "more", "most", "much", "must", "my", "now", "only",
    "other", "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "than", "them", "those",
    "through", "too", "under", "up", "us", "very", "we", "were", "what", "when", "where", "which", "while", "who",
    "whom", "why", "would", "you", "your", "yours", "may", "might", "shall", "one", "many", "every", "per", "via",
})  # fmt: skip


# --- text ------------------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MARKUP = re.compile(r"\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)|`|~~")
_HTML_TAG = re.compile(r"<[^>]+>")
_BULLET = re.compile(r"^(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?")
_QUOTE = re.compile(r"^>\s?")
_RULE = re.compile(r"^[-=*_\s]{3,}$")
# Closing quotes (straight or typographic) may follow the full stop; an opening one may precede the next capital.
_SENTENCE_END = re.compile("(?:(?<=[.!?])|(?<=[.!?][\"'\u201d\u2019)\\]]))\\s+(?=[\"'\u201c\u2018(\\[]?[A-Z0-9])")
_SPACE = re.compile(r"\s+")


def content_words(text: str) -> list[str]:
    return [w for w in tokens(text) if w not in _FILLER and not w.isdigit()]


def _stem(word: str) -> str:
    """A crude English stem, so that "batteries" finds "battery" when a question is matched to a sentence."""
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    return word


def _paragraphs(markdown: str) -> list[str]:
    """Prose units of a markdown text: paragraphs and list items, without headings, tables, rules or code."""
    units: list[str] = []
    current: list[str] = []
    in_code = False

    def flush() -> None:
        if current:
            units.append(" ".join(current))
            current.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        if _FENCE.match(line):
            in_code = not in_code
            flush()
            continue
        if in_code:
            continue
        line = _QUOTE.sub("", line)
        if not line or line.startswith(("#", "|")) or _RULE.match(line):
            flush()
            continue
        if _BULLET.match(line):
            flush()
            line = _BULLET.sub("", line)
        current.append(line)
    flush()
    return units


def _plain(text: str) -> str:
    text = _LINK.sub(r"\1", _IMAGE.sub(r"\1", text))
    return _SPACE.sub(" ", _MARKUP.sub("", _HTML_TAG.sub(" ", text))).strip()


def sentences_of(markdown: str) -> list[str]:
    """The sentences of a markdown text, in order (at least three words each)."""
    found = []
    for paragraph in _paragraphs(markdown):
        for sentence in _SENTENCE_END.split(_plain(paragraph)):
            sentence = sentence.strip()
            if len(sentence.split()) >= 3 and content_words(sentence):
                found.append(sentence)
    return found


@dataclass(frozen=True)
class Sentence:
    source: int  # the source's number, as cited
    position: int  # order across all sources
    text: str
    words: frozenset[str]  # stemmed content words


def split_sources(sources: Iterable[SourceBlock]) -> list[Sentence]:
    found: list[Sentence] = []
    for source in sources:
        for text in sentences_of(source.text):
            found.append(Sentence(source.number, len(found), text, frozenset(_stem(w) for w in content_words(text))))
    return found


def centrality(sentences: list[Sentence]) -> dict[int, float]:
    """How representative each sentence is. A word's weight grows with the number of sentences it appears in, from 0
    for a word of one sentence (it says nothing about the whole) to 1 for the most widespread; a sentence scores the
    summed weight of its distinct words over the square root of their number, so that length alone does not win."""
    spread = Counter(word for s in sentences for word in s.words)
    widest = max(spread.values(), default=1)
    weight = {w: (n - 1) / (widest - 1) if widest > 1 else 1.0 for w, n in spread.items()}
    return {s.position: sum(weight[w] for w in s.words) / math.sqrt(len(s.words)) if s.words else 0.0
            for s in sentences}


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def pick(sentences: list[Sentence], scores: dict[int, float], count: int, *, positive: bool = True) -> list[Sentence]:
    """The ``count`` best-scored sentences (ties: earlier first), skipping near-repeats, in their original order.
    ``positive``: only sentences that scored above zero (for relevance; a summary takes what there is)."""
    kept: list[Sentence] = []
    for sentence in sorted(sentences, key=lambda s: (-scores[s.position], s.position)):
        if len(kept) == count:
            break
        if (positive and scores[sentence.position] <= 0) or any(
                _overlap(sentence.words, k.words) > NEAR_DUPLICATE for k in kept):
            continue
        kept.append(sentence)
    return sorted(kept, key=lambda s: s.position)


def _cite(sentence: Sentence, cite: bool) -> str:
    return f"{sentence.text} [{sentence.source}]" if cite else sentence.text


# --- summarize -------------------------------------------------------------------------------------------------


def summarize(request: JobRequest) -> tuple[str, str]:
    sentences = split_sources(request.sources)
    if not sentences:
        return "", "The sources contain no sentences to summarize."
    count = SUMMARY_SENTENCES.get(str(request.options.get("length")), SUMMARY_SENTENCES["medium"])
    scores = centrality(sentences)
    focus = {_stem(w) for w in content_words(str(request.options.get("focus") or ""))}
    if focus:  # a sentence with more focus words outranks one with fewer, however central that one is
        above_all = max(scores.values()) + 1
        for s in sentences:
            scores[s.position] += above_all * len(focus & s.words)
    chosen = pick(sentences, scores, count, positive=False)
    cite = len(request.sources) > 1
    how = (f": the {len(chosen)} most representative sentences of the "
           f"{'sources' if cite else 'source'}, in their original order")
    return how, "\n".join(f"- {_cite(s, cite)}" for s in chosen)


# --- research --------------------------------------------------------------------------------------------------


def _relevant(sentences: list[Sentence], central: dict[int, float], primary: str, secondary: str,
              count: int) -> list[Sentence]:
    """Sentences that share more than half as many words with ``primary`` (a question) as the best one does, ranked
    by those shared words (twice), then by the words shared with ``secondary`` (the topic), then by centrality."""
    wanted = {_stem(w) for w in content_words(primary)}
    context = {_stem(w) for w in content_words(secondary)} - wanted
    hits = {s.position: len(wanted & s.words) for s in sentences}
    best = max(hits.values(), default=0)
    top = max(central.values(), default=1.0) or 1.0
    scores = {}
    for s in sentences:
        shared = len(context & s.words)
        relevant = hits[s.position] and 2 * hits[s.position] > best
        scores[s.position] = 2 * hits[s.position] + shared + 0.5 * central[s.position] / top if relevant else 0.0
    return pick(sentences, scores, count)


def research(request: JobRequest) -> tuple[str, str]:
    topic = request.sections.get("topic", "").strip()
    questions = [q.strip() for q in request.sections.get("questions", "").splitlines() if q.strip()]
    sentences = split_sources(request.sources)
    how = ": assembled from the sources' own sentences, each cited with its source number"
    if not sentences:
        return how, (f"No source with usable text was found for “{topic}”, so there is nothing to report yet. "
                     "Add notes or files about it, or configure a search provider.")
    central = centrality(sentences)
    parts = ["## Overview", ""]
    overview = _relevant(sentences, central, topic, "", 4)
    if overview:
        parts.append(" ".join(_cite(s, True) for s in overview))
    else:
        closest = pick(sentences, central, 2)
        parts.append(f"None of the {len(request.sources)} sources mentions “{topic}” directly. The most "
                     "representative passages they hold: " + " ".join(_cite(s, True) for s in closest))
    for question in questions:
        asked = question if content_words(question) else topic  # "Why?" alone asks about the topic
        answer = _relevant(sentences, central, asked, topic, 3)
        parts += ["", f"## {question}", ""]
        parts.append(" ".join(_cite(s, True) for s in answer) if answer
                     else "The sources do not answer this question.")
    parts += ["", "## Key points by source", ""]
    for source in request.sources:
        own = [s for s in sentences if s.source == source.number]
        best = pick(own, central, 1)
        point = best[0].text if best else "(no usable text)"
        parts.append(f"- **[{source.number}] {source.title or source.ref}**: {point}")
    return how, "\n".join(parts)


# --- content ---------------------------------------------------------------------------------------------------

_REQUEST = re.compile(
    r"^(?:please\s+)?(?:write|draft|create|compose|prepare|produce|make|give me)\s+(?:me\s+|us\s+)?"
    r"(?:(?:a|an|the|some)\s+)?(?:(?:short|long|quick|brief)\s+)?"
    r"(?:blog\s*post|post|article|e-?mail|newsletter|outline|announcement|social(?:\s+media)?\s+post|tweet|draft)?"
    r"\s*(?:about|on|for|announcing|introducing|regarding|covering|explaining|that)?\s*", re.IGNORECASE)
_DIRECTIVE = re.compile(
    r"^(?:please\s+)?(?:highlight|mention|explain|describe|cover|include|discuss|emphasi[sz]e|note|stress|add|list|"
    r"invite|ask|tell|announce|show|point out|talk about|remind(?: readers)?(?: of| about)?)\s+(?:that\s+)?",
    re.IGNORECASE)

_TONES: dict[str, tuple[str, str, str]] = {  # opener, closing, sign-off
    "professional": ("This piece covers {subject}.", "Thank you for your time.", "Best regards"),
    "friendly": ("Hi there! Let's talk about {subject}.", "Thanks for reading, and talk soon!", "Cheers"),
    "casual": ("So, {subject}. Here's the short version.", "That's it for now.", "Later"),
    "formal": ("This document addresses {subject}.", "We appreciate your attention to this matter.",
               "Yours sincerely"),
    "enthusiastic": ("Big news: {subject}!", "We can't wait to hear what you think!", "Cheers"),
}


def _subject(sentence: str) -> str:
    """A brief's sentence as a subject: the request or directive words dropped, the end punctuation too."""
    text = _DIRECTIVE.sub("", _REQUEST.sub("", sentence.strip())).strip().rstrip(".!?:;")
    return text or sentence.strip().rstrip(".!?:;")


def _in_sentence(subject: str) -> str:
    """A subject placed mid-sentence: a leading common word loses its capital ("Our plan" -> "our plan"), a name
    or an acronym keeps it."""
    first, _, rest = subject.partition(" ")
    if first.lower() in STOPWORDS | _FILLER | {"new", "this", "these"}:
        return f"{first.lower()} {rest}".strip()
    return subject


def _heading(text: str, words: int = 8) -> str:
    parts = text.split()
    heading = " ".join(parts[:words]) + ("…" if len(parts) > words else "")
    return heading[:1].upper() + heading[1:]


def _limit_words(markdown: str, limit: int) -> str:
    """At most ``limit`` words, cut at a line (the last line cut mid-way gets an ellipsis)."""
    kept: list[str] = []
    left = limit
    for line in markdown.split("\n"):
        words = line.split()
        if len(words) <= left:
            kept.append(line)
            left -= len(words)
            continue
        if left > 0:
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(indent + " ".join(words[:left]) + "…")
        break
    return "\n".join(kept).rstrip()


def _hashtags(text: str, count: int = 3) -> str:
    ranked = Counter(content_words(text)).most_common()
    return " ".join(f"#{word.capitalize()}" for word, _ in ranked[:count] if word.isalpha())


def content(request: JobRequest) -> tuple[str, str]:
    brief = request.sections.get("brief", "").strip()
    points = [_subject(s) for s in (sentences_of(brief) or [brief])][:6]
    subject = points[0] if points else "the topic"
    rest = points[1:]
    tone = str(request.options.get("tone") or "professional")
    opener, closing, sign_off = _TONES.get(tone, _TONES["professional"])
    opener = opener.format(subject=_in_sentence(subject))
    audience = str(request.options.get("audience") or "").strip()
    title = _heading(subject)
    placeholder = "[Add a concrete detail or example here.]"
    kind = str(request.options.get("format") or "blog_post")
    if kind == "email":
        lines = [f"**Subject:** {title}", "", f"Hello {audience or 'there'},", "", opener, ""]
        lines += [f"- {_heading(p, 40)}" for p in rest] or [f"- {placeholder}"]
        lines += ["", closing, "", f"{sign_off},", "[Your name]"]
    elif kind == "social_post":
        body = " ".join([opener, *(f"{_heading(p, 40)}." for p in rest)])
        tags = _hashtags(" ".join(points))
        budget = 280 - len(tags) - 1
        if len(body) > budget:
            body = body[: budget - 1].rsplit(" ", 1)[0] + "…"
        lines = [f"{body} {tags}".strip()]
    elif kind == "outline":
        lines = [f"# {title}", "", "1. Introduction", f"   - {opener}"]
        if audience:
            lines.append(f"   - Written for {audience}.")
        for number, point in enumerate(rest, 2):
            lines += [f"{number}. {_heading(point)}", f"   - {_heading(point, 40)}.", "   - [Supporting detail]"]
        lines += [f"{len(rest) + 2}. Conclusion", f"   - {closing}"]
    else:  # blog_post
        lines = [f"# {title}", "", opener + (f" It is written for {audience}." if audience else "")]
        for point in rest:
            lines += ["", f"## {_heading(point)}", "", f"{_heading(point, 40)}. {placeholder}"]
        lines += ["", "## Conclusion", "", f"To sum up: {_in_sentence(subject)}. {closing}"]
    draft = "\n".join(lines)
    max_words = request.options.get("max_words")
    if isinstance(max_words, int) and max_words > 0:
        draft = _limit_words(draft, max_words)
    label = kind.replace("_", " ")
    article = "an" if label[0] in "aeiou" else "a"
    return f": {article} {label} template filled from the brief (replace the bracketed placeholders)", draft


# --- analyze ---------------------------------------------------------------------------------------------------


def analyze(request: JobRequest) -> tuple[str, str]:
    try:
        stats = json.loads(request.sections.get("statistics", "{}"))
    except json.JSONDecodeError:
        stats = {}
    dataset = stats.get("dataset") or {}
    numeric = list(stats.get("numeric") or [])
    text = list(stats.get("text") or [])
    n = format_number
    parts = [f"{dataset.get('name') or 'The dataset'} has {n(dataset.get('rows', 0))} rows and "
             f"{n(dataset.get('columns', 0))} columns ({len(numeric)} numeric, {len(text)} text)."]
    for column in numeric[:5]:
        if not column.get("count"):
            parts.append(f"{column['column']} has no values.")
            continue
        parts.append(f"{column['column']} ranges from {n(column['min'])} to {n(column['max'])}, with a mean of "
                     f"{n(column['mean'])} and a median of {n(column['median'])}.")
    for column in text[:3]:
        if column.get("top"):
            value, count = column["top"][0]
            parts.append(f"The most frequent {column['column']} is “{value}” ({n(count)} of {n(column['count'])} "
                         f"values, {n(column['distinct'])} distinct).")
    missing = [f"{c['column']} ({n(c['missing'])})" for c in numeric + text if c.get("missing")]
    parts.append(f"Values are missing in {', '.join(missing)}." if missing else "No values are missing.")
    grouped = stats.get("group_by") or {}
    groups = list(grouped.get("groups") or [])
    if groups:
        largest = groups[0]
        parts.append(f"Grouped by {grouped['column']}, the largest of {n(grouped.get('total_groups', len(groups)))} "
                     f"groups is “{largest['value']}” with {n(largest['rows'])} rows.")
        for column in (c["column"] for c in numeric[:2]):
            means = [(g["means"][column], g["value"]) for g in groups if g.get("means", {}).get(column) is not None]
            if len(means) > 1:
                high, low = max(means, key=lambda m: m[0]), min(means, key=lambda m: m[0])
                parts.append(f"The mean {column} is highest for “{high[1]}” ({n(high[0])}) and lowest for "
                             f"“{low[1]}” ({n(low[0])}).")
    return ": this narrative restates the statistics computed from the file", " ".join(parts)


# --- the provider hook -----------------------------------------------------------------------------------------

_WRITERS: dict[str, Callable[[JobRequest], tuple[str, str]]] = {
    "summarize": summarize, "research": research, "content": content, "analyze": analyze,
}


def _texts(blocks: Iterable[dict[str, Any]]) -> list[str]:
    return [str(b["text"]) for b in blocks if "text" in b]


def answer_job(messages: list[Message], system: list[dict[str, Any]] | None, max_tokens: int) -> ConverseResult | None:
    """The offline answer to a job request; None when the request is not a job's (the chat handles it)."""
    user_texts = [t for m in messages if m["role"] == "user" for t in _texts(m["content"])]
    request = parse_request(system, user_texts[-1] if user_texts else "")
    if request is None:
        return None
    writer = _WRITERS.get(request.job)
    how, body = writer(request) if writer else ("", f"There is no offline template for “{request.job}” jobs.")
    stop_reason = "end_turn"
    if len(body.split()) > max_tokens:
        body, stop_reason = _limit_words(body, max_tokens), "max_tokens"
    text = f"{LABEL} {NOTICE}{how}.\n\n{body}"
    # Token usage is approximated by whitespace-separated words: deterministic, and close enough for English.
    input_tokens = sum(len(t.split()) for t in _texts(system or [])) + sum(
        len(t.split()) for m in messages for t in _texts(m["content"]))
    output_tokens = len(text.split())
    usage = {"inputTokens": input_tokens, "outputTokens": output_tokens, "totalTokens": input_tokens + output_tokens}
    return ConverseResult({"role": "assistant", "content": [{"text": text}]}, stop_reason, usage, "offline")
