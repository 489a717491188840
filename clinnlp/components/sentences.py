"""A rule-based sentence splitter for clinical layout, so ``doc.sents`` works without a parser.

General-purpose splitters break clinical notes badly: they run headings into the next
sentence, split vitals at decimals and abbreviations at their periods, and either
ignore line structure (lists, titles) or split hard-wrapped prose at every newline.
This component decides boundaries on the character level with the rules below, then
marks the first token at or after each boundary (whitespace tokens never start a
sentence, so line breaks stay with the sentence they end):

* a blank line is a boundary;
* a section heading (from ``clinnlp_sections``) is a sentence of its own, and a
  subheading such as ``Lungs:`` starts a sentence;
* each bulleted or numbered list item (``-``, ``*``, ``•``, ``1.``, ``1)``, ``#1``) starts one;
* ``.`` + whitespace + capital or digit is a boundary, except after an abbreviation
  (``Dr.``, ``e.g.``, ``b.i.d.``, ``No. 5``...); decimals never are (no whitespace);
* ``?`` and ``!`` attached to a word end a sentence;
* a single newline is a boundary only when the writer broke the line on purpose: the
  previous line ends with ``:``, or ends without punctuation or a continuation word
  while the next line starts with a capital or digit and its first word would have
  fitted on the previous line (so it is a title or list line, not hard-wrapped prose);
* a line break flattened into a comma (MTSamples' ``,`` / ``,  ``) counts like a newline.

The word lists and patterns are data in ``clinnlp/rules/sentences.json``.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy
from spacy.attrs import IDX, IS_SPACE, LENGTH, SENT_START
from spacy.language import Language
from spacy.tokens import Doc

from clinnlp.components.sections import (
    HEADING_SPANS_KEY,
    SUBHEADING_SPANS_KEY,
    find_headings,
    heading_spans,
    line_starts,
    read_rules_json,
)
from clinnlp.errors import ResourceError
from clinnlp.extensions import install_extensions

RULES_FILE = "sentences.json"

_TERMINAL = re.compile(r"[.?!][\"')\]]*(?=[\s,])")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_DOTTED_ABBREVIATION = re.compile(r"(?:[a-z]\.)+[a-z]")
_WORD_RE = re.compile(r"[A-Za-z]+")
_WORD_STOP = " \t\r\n([{\"',;"
_LIST_NUMBER = re.compile(r"\d{1,3}|[A-Z]")
_NO_CONTINUE_END = ",;-/&+(=<>"


@dataclass(frozen=True)
class SentenceRules:
    """The compiled contents of ``sentences.json``."""

    abbreviations: frozenset[str]
    abbreviations_exact: frozenset[str]
    sentence_starters: frozenset[str]
    abbreviations_before_digit: frozenset[str]
    continuation_words: frozenset[str]
    bullet: re.Pattern[str]
    flattened_line_break: re.Pattern[str]
    min_wrap_width: int


@lru_cache(maxsize=1)
def load_rules() -> SentenceRules:
    """Compile the sentence rules once per process."""
    data = read_rules_json(RULES_FILE)
    try:
        return SentenceRules(
            abbreviations=frozenset(a.rstrip(".") for a in data["abbreviations"] if a == a.lower()),
            abbreviations_exact=frozenset(
                form
                for a in data["abbreviations"]
                if a != a.lower()
                for form in (a.rstrip("."), a.rstrip(".").upper())
            ),
            sentence_starters=frozenset(data["sentence_starters"]),
            abbreviations_before_digit=frozenset(
                a.lower().rstrip(".") for a in data["abbreviations_before_digit"]
            ),
            continuation_words=frozenset(w.lower() for w in data["continuation_words"]),
            bullet=re.compile(data["bullet"]),
            flattened_line_break=re.compile(data["flattened_line_break"]),
            min_wrap_width=int(data["min_wrap_width"]),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ResourceError(f"malformed rules file clinnlp/rules/{RULES_FILE}: {exc!r}") from exc


def _word_before(text: str, end: int) -> str:
    """The non-space run that ends at ``end`` (opening brackets and quotes excluded)."""
    start = end
    while start > 0 and text[start - 1] not in _WORD_STOP:
        start -= 1
    return text[start:end]


def _is_list_number(text: str, start: int, word: str) -> bool:
    """True for "2" (after a line start or punctuation) or "A" (after a line start) numbering a list item."""
    if not _LIST_NUMBER.fullmatch(word):
        return False
    before = text[max(0, start - 20) : start].rstrip(" \t")
    if word.isdigit():
        return not before or before[-1] in "\n.:;,?!"
    return word.isupper() and (not before or before[-1] in "\n,")


def _starts_like_sentence(text: str, j: int) -> bool:
    """True when the character at ``j`` (or after an opening bracket/quote) is a capital or digit."""
    if j >= len(text):
        return False
    c = text[j]
    if c in "\"'([" and j + 1 < len(text):
        c = text[j + 1]
    return c.isupper() or c.isdigit()


def _continues(line: str, rules: SentenceRules) -> bool:
    """True when a line's end says the sentence goes on (trailing comma, 'and', 'of'...)."""
    if not line or line[-1] in _NO_CONTINUE_END:
        return True
    last = line.rsplit(None, 1)[-1].lower()
    return last in rules.continuation_words


def _punctuation_cuts(text: str, rules: SentenceRules) -> Iterable[int]:
    """Boundaries after '.', '?' and '!' (abbreviations and detached '?' excluded)."""
    for m in _TERMINAL.finditer(text):
        i = m.start()
        j = _skip_gap(text, m.end())
        if j >= len(text) or i == 0 or text[i - 1].isspace():
            continue
        if text[i] in "?!":
            yield j
            continue
        if not _starts_like_sentence(text, j):
            continue
        word = _word_before(text, i)
        if _is_list_number(text, i - len(word), word):
            continue  # the '.' of "2. Normal size" numbers a list item, it ends nothing
        lower = word.lower()
        if word in rules.abbreviations_exact:
            continue  # a title: "Dr. Smith"
        if lower in rules.abbreviations or _DOTTED_ABBREVIATION.fullmatch(word):
            next_word = _WORD_RE.match(text, j)
            if next_word is None or next_word.group() not in rules.sentence_starters:
                continue  # "p.o. daily", "e.g. CHF"; but "b.i.d. Despite this" ends one
        if lower in rules.abbreviations_before_digit and text[j].isdigit():
            continue
        yield j


def _line_cuts(text: str, rules: SentenceRules) -> Iterable[int]:
    """Boundaries at blank lines and at single newlines the writer put on purpose."""
    for m in _BLANK_LINE.finditer(text):
        if m.end() < len(text):
            yield m.end()
    lines = text.split("\n")
    width = max(rules.min_wrap_width, max(len(line.rstrip()) for line in lines))
    offset = 0
    for line, following in zip(lines, lines[1:]):
        next_start = offset + len(line) + 1
        offset = next_start
        prev = line.rstrip()
        nxt = following.lstrip()
        if not prev.strip() or not nxt or prev[-1] in ".?!":
            continue  # blank lines and terminal punctuation have their own rules
        j = next_start + len(following) - len(nxt)
        if prev[-1] == ":":
            if _starts_like_sentence(text, j):
                yield j
            continue
        if _continues(prev, rules) or not _starts_like_sentence(text, j):
            continue
        first_word = nxt.split(None, 1)[0]
        if len(prev) + 1 + len(first_word) <= width:
            yield j


def _flattened_cuts(text: str, rules: SentenceRules) -> Iterable[int]:
    """Boundaries at line breaks an export flattened into a comma (MTSamples)."""
    for m in rules.flattened_line_break.finditer(text):
        prev = text[max(0, m.start() - 80) : m.start()].rstrip()
        if not prev or prev[-1] in ".?!,":
            continue  # terminal punctuation is handled by its own rule
        if prev[-1] == ":" or not _continues(prev[-40:], rules):
            yield _skip_gap(text, m.start())


def _bullet_cuts(text: str, rules: SentenceRules) -> Iterable[int]:
    """A sentence starts at every list item marker at a line start."""
    for pos in line_starts(text):
        m = rules.bullet.match(text, pos)
        if m is not None:
            yield m.start("bullet")


def sentence_starts(
    text: str,
    headings: Sequence[tuple[int, int]],
    subheadings: Sequence[tuple[int, int]] = (),
) -> list[int]:
    """Sorted character offsets where sentences start (each at a non-space character).

    ``headings`` are sentences of their own; ``subheadings`` only start one. No cut
    falls inside either (a heading such as ``A/P:`` or ``Dr. Smith's note:`` stays whole).
    """
    rules = load_rules()
    cuts: set[int] = set()
    cuts.update(_punctuation_cuts(text, rules))
    cuts.update(_line_cuts(text, rules))
    cuts.update(_flattened_cuts(text, rules))
    cuts.update(_bullet_cuts(text, rules))
    protected = sorted([*headings, *subheadings])
    if protected:
        cuts = {c for c in cuts if not _inside(protected, c)}
    for start, end in headings:
        cuts.add(start)
        cuts.add(_skip_gap(text, end))
    for start, _ in subheadings:
        cuts.add(start)
    return sorted(c for c in cuts if 0 < c < len(text) and not text[c].isspace())


def _inside(spans: Sequence[tuple[int, int]], offset: int) -> bool:
    """True when ``offset`` lies strictly inside one of the sorted, disjoint ``spans``."""
    i = bisect_left(spans, offset, key=lambda span: span[0])  # first span starting at/after offset
    return i > 0 and offset < spans[i - 1][1]


def _skip_gap(text: str, pos: int) -> int:
    """The first offset at or after ``pos`` that is neither whitespace nor a (flattened-break) comma."""
    while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
        pos += 1
    return pos


def split_tokens_at(doc: Doc, offsets: Sequence[int]) -> Doc:
    """Split every token that a boundary offset falls strictly inside, so sentences stay exact.

    spaCy's English tokenizer keeps flattened layout such as ``up.,MEDICATIONS`` or
    ``OBJECTIVE:,Vitals`` in one token; without this a sentence or heading edge would
    fall inside a token and the mention finders after us would see glued words.
    """
    if not offsets or len(doc) == 0:
        return doc
    table = doc.to_array([IDX, LENGTH])
    points = numpy.asarray(offsets, dtype="int64")
    owner = numpy.searchsorted(table[:, 0], points, side="right") - 1
    valid = owner >= 0
    points, owner = points[valid], owner[valid]
    inside = (points > table[owner, 0]) & (points < table[owner, 0] + table[owner, 1])
    plan: dict[int, list[int]] = {}
    for point, i in zip(points[inside].tolist(), owner[inside].tolist()):
        plan.setdefault(i, []).append(point - int(table[i, 0]))
    if not plan:
        return doc
    with doc.retokenize() as retokenizer:
        for i, inner in plan.items():
            token = doc[i]
            bounds = [0, *sorted(set(inner)), len(token)]
            orths = [token.text[a:b] for a, b in zip(bounds, bounds[1:])]
            heads = [(token, n) for n in range(len(orths))]
            retokenizer.split(token, orths, heads=heads)
    return doc


def sentence_flags(doc: Doc, starts: Sequence[int]) -> numpy.ndarray:
    """SENT_START values (1 start, -1 not) marking the first non-space token at or after each start."""
    table = doc.to_array([IDX, IS_SPACE])
    flags = numpy.full(len(doc), -1, dtype="int64")
    flags[0] = 1
    first = numpy.searchsorted(table[:, 0], numpy.asarray(starts, dtype="int64"), side="left")
    for i in first.tolist():
        while i < len(doc) and table[i, 1]:
            i += 1  # a start never falls on whitespace; step over it defensively
        if i < len(doc):
            flags[i] = 1
    return flags


class ClinicalSentenceSplitter:
    """Sets ``token.is_sent_start`` (True or False) on every token from clinical layout rules.

    Where a boundary or heading edge falls inside a token (flattened layout such as
    ``up.,MEDICATIONS``), the token is split there first; token offsets are unchanged.
    """

    def __init__(self, nlp: Language, name: str) -> None:
        install_extensions()
        self.nlp = nlp
        self.name = name
        load_rules()  # fail at pipeline build time, not on the first note

    def __call__(self, doc: Doc) -> Doc:
        if len(doc) == 0:
            return doc
        text = doc.text  # computed from the tokens on every access: read it once
        main = doc.user_data.get(HEADING_SPANS_KEY)
        sub = doc.user_data.get(SUBHEADING_SPANS_KEY)
        if main is None or sub is None:  # used without clinnlp_sections
            main, sub = heading_spans(find_headings(text))
        starts = sentence_starts(text, main, sub)
        split_points = set(starts)
        for start, end in [*main, *sub]:
            split_points.update((start, end))
            if text[end - 1 : end] == ":":
                split_points.add(end - 1)
        doc = split_tokens_at(doc, sorted(split_points))
        # Written as one array: setting token.is_sent_start one by one re-checks the
        # whole Doc for each token (quadratic in note length).
        flags = sentence_flags(doc, starts)
        doc.from_array([SENT_START], flags.astype("uint64").reshape(-1, 1))
        return doc


@Language.factory("clinnlp_sentences")
def make_sentence_splitter(nlp: Language, name: str) -> ClinicalSentenceSplitter:
    """spaCy factory for :class:`ClinicalSentenceSplitter`."""
    return ClinicalSentenceSplitter(nlp, name)


__all__ = ["ClinicalSentenceSplitter", "make_sentence_splitter", "sentence_flags", "sentence_starts", "split_tokens_at"]
