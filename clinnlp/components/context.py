"""Clinical context (assertion) of mentions: negated, uncertain, historical, hypothetical, family.

A ConText-style algorithm (Harkema et al. 2009) whose cue phrases are data in
``clinnlp/rules/context.json``; this module only knows how cues and scopes behave:

* cue phrases are found on the note's text, case-insensitively and on whole words
  (whitespace runs match any whitespace); where two overlap, the leftmost and then the
  longest wins, so a pseudo cue (``no increase``, ``gram negative``) swallows the
  shorter real cue inside it and blocks it;
* a ``forward`` cue modifies mentions that start after it, a ``backward`` cue mentions
  that end before it, a ``bidirectional`` cue both; the scope never leaves the sentence
  (``doc.sents``; the whole note when no sentence splitter ran), stops at the first
  termination cue of its category (``but``, ``however``, ``;``...) and at the rule's
  ``max_scope`` in tokens;
* a mention that overlaps a cue is not modified by it (``non-tender`` is one term);
* every mention inside a section listed under ``sections`` gets that section's
  attributes (``family_history`` -> family, ``past_medical_history`` -> historical).

Decision: ``resolved``/``cleared``/``resolution of`` mark a mention *negated, historical
and resolved*: it is not present now (the issue lists "resolved" among the negations, and
MACCROBAT annotates it NEG), and ``resolved`` keeps it apart from one that never was (FHIR
exports it as a confirmed Condition with clinicalStatus resolved, not a refuted one).
The ``clinnlp_context`` ``aliases`` config can make it historical only.

A cue listed under ``term_internal`` that opens a mention is part of the term
(``absence of appetite`` is a finding, not a denied appetite).

A measured result (a lab or vital mention followed by its value, ``WBC 15.2 H``) is not
reached by a cue across a comma: in "No fever, WBC 15.2" or "Mother with diabetes, HbA1c
9.2" the number was measured on the patient, and a negated, uncertain, historical or family
flag would drop an abnormal result from analyses. Hypothetical cues still reach it ("call if
temp > 101.5, SBP > 180").

:func:`assert_spans` works for any spans (gold mentions in evaluation); the
``clinnlp_context`` component applies it to ``doc.ents``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

from clinnlp.components.finding_values import is_measurable, read_value
from clinnlp.components.sections import section_at
from clinnlp.rule_files import read_rules_json
from clinnlp.errors import ConfigError, ResourceError
from clinnlp.extensions import FINDING, install_extensions

RULES_FILE = "context.json"

#: The assertion attributes, in the order of :class:`clinnlp.schema.Assertion`.
ATTRIBUTES = ("negated", "uncertain", "historical", "hypothetical", "family", "resolved")
CUE_DIRECTIONS = ("forward", "backward", "bidirectional")
DIRECTIONS = (*CUE_DIRECTIONS, "pseudo", "terminate")


@dataclass(frozen=True)
class ContextRule:
    """One rule of ``context.json`` for one phrase.

    ``categories`` are attribute names or aliases (``resolved``); a terminate rule with
    ``scope`` set only ends scopes of that direction.
    """

    phrase: str
    categories: frozenset[str]
    direction: str
    max_scope: int | None
    scope: str | None = None


@dataclass(frozen=True)
class ContextRules:
    """The compiled rules: one regex for every phrase, and the rules behind each phrase."""

    pattern: re.Pattern[str]
    by_phrase: dict[str, tuple[ContextRule, ...]]
    sections: dict[str, frozenset[str]]
    aliases: dict[str, tuple[str, ...]]
    #: Cue phrases that, opening a mention, are part of the term ("absence of appetite").
    term_internal: frozenset[str] = frozenset()
    #: category -> the categories whose cues end its forward scopes (medspaCy's
    #: ``terminated_by``): "no X, questionable Y" does not deny Y.
    terminated_by: dict[str, frozenset[str]] = field(default_factory=dict)
    #: category -> mention labels its cues never modify ("Phenergan resolved his nausea")
    not_for_labels: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Cue:
    """A matched cue on tokens ``[start, end)`` of sentence ``[sent_start, sent_end)``."""

    start: int
    end: int
    sent_start: int
    sent_end: int
    rule: ContextRule
    #: the cue opens a list item or clause (a comma or semicolon right before it)
    after_comma: bool = False


@dataclass(frozen=True)
class _Scope:
    """Where one cue of one category applies: tokens ``[begin, cue_start)`` and ``[cue_end, finish)``."""

    category: str
    cue_start: int
    cue_end: int
    begin: int
    finish: int
    phrase: str = ""


def normalize_phrase(text: str) -> str:
    """Lower case with single spaces: the key a matched text and a rule phrase share."""
    return " ".join(text.lower().split())


_END = ""  # trie key marking the end of a phrase
_SPACE = " "  # trie key standing for a whitespace run


def _trie_regex(phrases: Iterable[str]) -> str:
    """One regex for every phrase on whole words (``no`` must not match inside ``nodule``,
    nor ``negative`` in ``catalase-negative``; whitespace runs match any whitespace),
    the longest phrase winning at a position, compiled as a trie.

    Why by hand: Python's ``re`` tries every alternative of a flat alternation at every
    position of the note, so the ~600 cue phrases cost ~600 attempts per character (2.8 s
    per 100 MTSamples notes, against 0.08 s as a trie: identical matches on 1,500 notes). In the trie, alternatives share their
    prefixes and each step tries one character. At every node the continuations come
    before the phrase end, so along the note's characters the longest phrase wins, as in
    the longest-first flat alternation.
    """
    roots: dict[bool, dict[str, Any]] = {True: {}, False: {}}
    for phrase in phrases:
        node = roots[phrase[0].isalnum()]
        for i, word in enumerate(phrase.split()):
            if i:
                node = node.setdefault(_SPACE, {})
            for char in word:
                node = node.setdefault(char, {})
        node[_END] = {}

    def render(node: dict[str, Any], last: str) -> str:
        branches = [(r"\s+" if key == _SPACE else re.escape(key)) + render(child, key)
                    for key, child in sorted(node.items()) if key != _END]  # fmt: skip
        if _END in node:
            branches.append(r"(?![\w])" if last.isalnum() else "")
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    parts = []
    if roots[True]:
        parts.append(r"(?<![\w-])" + render(roots[True], ""))
    if roots[False]:
        parts.append(render(roots[False], ""))
    return "|".join(parts)


def _parse_rule(raw: dict[str, Any], defaults: dict[str, int | None], known: frozenset[str]) -> list[ContextRule]:
    """The rules one JSON entry holds (one per phrase), checked so a typo fails loudly."""
    direction = raw["direction"]
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    category = raw["category"]
    categories = known if category == "all" else frozenset([category] if isinstance(category, str) else category)
    if not categories <= known:
        raise ValueError(f"unknown category in {category!r}")
    scope = raw.get("scope")
    if scope not in (None, "forward", "backward"):
        raise ValueError(f"unknown terminator scope {scope!r}")
    max_scope = raw.get("max_scope", defaults.get(direction))
    phrases = [raw["phrase"]] if isinstance(raw["phrase"], str) else list(raw["phrase"])
    return [
        ContextRule(normalize_phrase(p), categories, direction, None if max_scope is None else int(max_scope), scope)
        for p in phrases
        if p.strip()
    ]


@lru_cache(maxsize=1)
def load_rules() -> ContextRules:
    """Compile ``context.json`` once per process; the result is read-only."""
    data = read_rules_json(RULES_FILE)
    try:
        aliases = {name: tuple(attrs) for name, attrs in data.get("aliases", {}).items()}
        sections = {name: frozenset(attrs) for name, attrs in data["sections"].items()}
        for attrs in [*aliases.values(), *sections.values()]:
            if not set(attrs) <= set(ATTRIBUTES):
                raise ValueError(f"unknown attribute in {sorted(attrs)}")
        known = frozenset(ATTRIBUTES) | frozenset(aliases)
        defaults = {k: (None if v is None else int(v)) for k, v in data["default_max_scope"].items()}
        by_phrase: dict[str, list[ContextRule]] = {}
        for raw in data["rules"]:
            for rule in _parse_rule(raw, defaults, known):
                by_phrase.setdefault(rule.phrase, []).append(rule)
        # Longest phrase first, so at one start position the longest alternative wins.
        term_internal = frozenset(normalize_phrase(p) for p in data.get("term_internal", []))
        terminated_by = {c: frozenset(by) for c, by in data.get("terminated_by", {}).items()}
        not_for_labels = {c: frozenset(labels) for c, labels in data.get("not_for_labels", {}).items()}
        if not set(terminated_by) <= known or not all(by <= known for by in terminated_by.values()):
            raise ValueError(f"unknown category in terminated_by {data.get('terminated_by')!r}")
        ordered = sorted(by_phrase, key=lambda p: (-len(p), p))
        pattern = re.compile(_trie_regex(ordered), re.IGNORECASE)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ResourceError(f"malformed rules file clinnlp/rules/{RULES_FILE}: {exc!r}") from exc
    return ContextRules(pattern, {p: tuple(r) for p, r in by_phrase.items()}, sections, aliases, term_internal, terminated_by,
                        not_for_labels)


def _sentence_bounds(doc: Doc) -> tuple[list[int], list[int]]:
    """Sentence starts and ends in token indices; the whole doc when no sentences are set."""
    if len(doc) and doc.has_annotation("SENT_START"):
        sents = list(doc.sents)
        return [s.start for s in sents], [s.end for s in sents]
    return [0], [len(doc)]


def _find_cues(doc: Doc, rules: ContextRules) -> list[_Cue]:
    """Every cue and termination match of the doc, located on tokens and sentences."""
    starts, ends = _sentence_bounds(doc)
    cues: list[_Cue] = []
    for match in rules.pattern.finditer(doc.text):
        span = doc.char_span(match.start(), match.end(), alignment_mode="expand")
        if span is None or not len(span):
            continue
        # The sentence of the cue's last token: in "Assessment: no evidence of pneumonia"
        # the heading is its own sentence, and the cue ": no" must scope over the next one.
        i = bisect_right(starts, span.end - 1) - 1
        for rule in rules.by_phrase.get(normalize_phrase(match.group()), ()):
            if rule.direction != "pseudo":
                after_comma = span.start > 0 and doc[span.start - 1].text in (",", ";")
                cues.append(_Cue(span.start, span.end, starts[i], ends[i], rule, after_comma))
    return cues


def _scopes(cues: Sequence[_Cue], terminated_by: Mapping[str, frozenset[str]] | None = None) -> list[_Scope]:
    """The scope of every modifying cue, per category, cut at sentence ends, terminators,
    ``max_scope``, and (forward) a cue of a category in ``terminated_by`` that opens a list
    item: "no X, questionable Y" does not deny Y, "no findings such as suspected Y" does."""
    # category -> direction -> sorted (start, end) of the terminators that end such scopes
    stops: dict[str, dict[str, list[tuple[int, int]]]] = {}
    for cue in cues:
        if cue.rule.direction == "terminate":
            for category in cue.rule.categories:
                for direction in (cue.rule.scope,) if cue.rule.scope else ("forward", "backward"):
                    stops.setdefault(category, {}).setdefault(direction, []).append((cue.start, cue.end))
        elif cue.after_comma and cue.rule.direction in ("forward", "bidirectional"):
            for category, by in (terminated_by or {}).items():
                if by & cue.rule.categories:
                    stops.setdefault(category, {}).setdefault("forward", []).append((cue.start, cue.end))
    for by_direction in stops.values():
        for spans in by_direction.values():
            spans.sort()
    scopes: list[_Scope] = []
    for cue in cues:
        rule = cue.rule
        if rule.direction == "terminate":
            continue
        for category in rule.categories:
            begin, finish = cue.start, cue.end  # empty on a side the cue does not look at
            if rule.direction in ("forward", "bidirectional"):
                finish = cue.sent_end
                if rule.max_scope is not None:
                    finish = min(finish, cue.end + rule.max_scope)
                ahead = stops.get(category, {}).get("forward", [])
                j = bisect_left(ahead, (cue.end, -1))
                if j < len(ahead):
                    finish = max(cue.end, min(finish, ahead[j][0]))
            if rule.direction in ("backward", "bidirectional"):
                begin = cue.sent_start
                if rule.max_scope is not None:
                    begin = max(begin, cue.start - rule.max_scope)
                behind = stops.get(category, {}).get("backward", [])
                ends_before = [end for _, end in behind[: bisect_left(behind, (cue.start, -1))] if end <= cue.start]
                if ends_before:
                    begin = min(cue.start, max(begin, max(ends_before)))
            scopes.append(_Scope(category, cue.start, cue.end, begin, finish, rule.phrase))
    return scopes


def _in_scope(span: Span, scope: _Scope, term_internal: frozenset[str] = frozenset()) -> bool:
    """True when the cue behind ``scope`` modifies ``span``."""
    if span.start < scope.cue_end and scope.cue_start < span.end:
        if scope.cue_start == span.start and scope.phrase in term_internal:
            return False  # "absence of appetite" names a finding; it does not deny one
        # A cue inside the mention counts only where the mention goes on in the cue's
        # direction ("no signs of endocarditis"); otherwise it is part of the term.
        # A prefix glued to the term ("non-tender") is part of it.
        glued = not span.doc[scope.cue_end - 1].whitespace_
        if span.start <= scope.cue_start and scope.cue_end < span.end and scope.finish > scope.cue_end:
            return not glued
        return span.start < scope.cue_start and scope.cue_end <= span.end and scope.begin < scope.cue_start
    return scope.cue_end <= span.start < scope.finish or scope.begin < span.end <= scope.cue_start


def _is_measured(span: Span, text: str) -> bool:
    """A lab or vital mention followed by a number (``WBC 15.2``, ``BP 140/90``).

    The value is read again by ``clinnlp_finding_values``, which runs after this component
    (the pipeline's order is fixed); it is one anchored match per lab or vital mention."""
    if span.label_ != FINDING or not is_measurable(span):
        return False
    found = read_value(text, span.end_char)
    return found is not None and "value" in found


def _across_comma(span: Span, scope: _Scope, text: str) -> bool:
    """Whether a comma stands between the scope's cue and the span."""
    doc = span.doc
    if scope.cue_end <= span.start:
        between = text[doc[scope.cue_end - 1].idx + len(doc[scope.cue_end - 1]) : span.start_char]
    elif span.end <= scope.cue_start:
        between = text[span.end_char : doc[scope.cue_start].idx]
    else:
        return False
    return "," in between


def assert_spans(
    doc: Doc, spans: Iterable[Span], aliases: Mapping[str, Sequence[str]] | None = None
) -> list[dict[str, bool]]:
    """The assertion attributes of each span of ``doc``, in order.

    Works for any spans, not just ``doc.ents``, so gold mentions can be scored with the
    same rules the pipeline applies. Uses ``doc.sents`` and ``doc._.clinnlp_sections``
    when they are set. ``aliases`` overrides the rules file's alias categories, e.g.
    ``{"resolved": ["historical", "negated"]}`` for a corpus that calls resolved findings negated.
    """
    install_extensions()
    rules = load_rules()
    meaning = {**{a: (a,) for a in ATTRIBUTES}, **rules.aliases, **{k: tuple(v) for k, v in (aliases or {}).items()}}
    spans = list(spans)
    if not spans:
        return []
    scopes = _scopes(_find_cues(doc, rules), rules.terminated_by)
    # A scope reaches only tokens in [reach_start, reach_end); sorted by reach_start, the
    # scopes a span can be in are a slice found by bisection, so a long note is not
    # (mentions x cues).
    scopes.sort(key=lambda sc: min(sc.begin, sc.cue_start))
    starts = [min(sc.begin, sc.cue_start) for sc in scopes]
    widest = max((max(sc.finish, sc.cue_end) - lo for sc, lo in zip(scopes, starts)), default=0)
    sections = doc._.clinnlp_sections or []
    text = doc.text
    results: list[dict[str, bool]] = []
    for span in spans:
        found = dict.fromkeys(ATTRIBUTES, False)
        first, last = bisect_left(starts, span.start - widest), bisect_left(starts, span.end + 1)
        measured = _is_measured(span, text)
        for scope in scopes[first:last]:
            if span.label_ in rules.not_for_labels.get(scope.category, ()):
                continue
            if _in_scope(span, scope, rules.term_internal):
                attributes = meaning.get(scope.category, ())
                if measured and _across_comma(span, scope, text):
                    attributes = tuple(a for a in attributes if a == "hypothetical")
                for attribute in attributes:
                    found[attribute] = True
        section = section_at(sections, span.start_char) if sections else None
        for attribute in rules.sections.get(section or "", ()):
            found[attribute] = True
        results.append(found)
    return results


class ContextComponent:
    """Sets ``span._.clinnlp_assertion`` on every entity of the doc."""

    def __init__(self, nlp: Language, name: str, aliases: dict[str, list[str]] | None = None) -> None:
        install_extensions()
        self.nlp = nlp
        self.name = name
        self.aliases = aliases
        rules = load_rules()
        unknown = {a for attrs in (aliases or {}).values() for a in attrs} - set(ATTRIBUTES)
        if unknown or not set(aliases or {}) <= set(rules.aliases):
            raise ConfigError(f"clinnlp_context aliases {aliases!r}: keys must be among {sorted(rules.aliases)}, values among {ATTRIBUTES}")  # fail at pipeline build time, not on the first note

    def __call__(self, doc: Doc) -> Doc:
        ents = list(doc.ents)
        for ent, assertion in zip(ents, assert_spans(doc, ents, self.aliases), strict=True):
            ent._.clinnlp_assertion = assertion
        return doc


@Language.factory("clinnlp_context", default_config={"aliases": None})
def make_context(nlp: Language, name: str, aliases: dict[str, list[str]] | None) -> ContextComponent:
    """spaCy factory for :class:`ContextComponent`; add it after the NER.

    ``aliases`` overrides what the rules file's alias categories mean, e.g.
    ``{"resolved": ["historical", "negated"]}``; None keeps the file's meaning.
    """
    return ContextComponent(nlp, name, aliases)


__all__ = [
    "ATTRIBUTES",
    "ContextComponent",
    "ContextRule",
    "ContextRules",
    "assert_spans",
    "load_rules",
    "make_context",
    "normalize_phrase",
]
