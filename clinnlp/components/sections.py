"""Section detection: finds note headings and splits the note into named sections.

The rules (heading variants, subheadings, thresholds) are data in
``clinnlp/rules/sections.json``; this module only knows *where* a heading may stand:

* at the start of a line (after optional whitespace and numbering or a bullet), in any
  case, followed by ``:`` or the end of the line; a "line" also starts after a line
  break that an export flattened into punctuation (MTSamples writes ``,`` / ``,  ``);
* anywhere in the text when written in capitals and followed by ``:``.

Each section runs from its heading's start to the next section heading's start (the
last one to the end of the note); text before the first heading is in no section.

Besides ``doc._.clinnlp_sections`` the component leaves two lists of ``(start, end)``
character spans in ``doc.user_data`` for the sentence splitter, which must cut there:

* ``doc.user_data["clinnlp_heading_spans"]``: section headings, numbering and colon
  included; a heading is a sentence of its own;
* ``doc.user_data["clinnlp_subheading_spans"]``: labels inside a section such as
  ``Lungs:`` or ``BP:``; they start a sentence but stay with the text after them.

Both are plain lists so the Doc still serialises; :func:`find_headings` recomputes them
from text when the section component did not run.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from clinnlp.errors import ResourceError
from clinnlp.rule_files import read_rules_json
from clinnlp.extensions import install_extensions
from clinnlp.schema import Section

#: Keys of ``doc.user_data`` holding ``list[tuple[int, int]]`` heading spans.
HEADING_SPANS_KEY = "clinnlp_heading_spans"
SUBHEADING_SPANS_KEY = "clinnlp_subheading_spans"

RULES_FILE = "sections.json"

# Numbering or a bullet that may precede a heading at the start of a line.
_NUMBERING = r"(?:\d{1,2}[.)]|#\d{0,2}|[-*\u2022]|[IVX]{1,4}\.)[ \t]+"
# Characters a heading may contain (no '.', ',' or ':' so it cannot swallow prose).
_HEAD_CHARS = r"A-Za-z0-9 /&\-'()"
_WORD_RE = re.compile(r"[A-Za-z]+")
_BLANK_LINE_END = re.compile(r"\n[ \t\r]*\n[ \t\r]*$")


@dataclass(frozen=True)
class Heading:
    """One heading found in a text; ``name`` is None for a subheading."""

    start: int
    end: int
    text: str
    name: str | None


@dataclass(frozen=True)
class SectionRules:
    """The compiled contents of ``sections.json``."""

    variants: dict[str, str]
    subheadings: frozenset[str]
    line_start_only: frozenset[str]
    nested: dict[str, frozenset[str]]
    containers: frozenset[str]
    other_section: str
    min_inline_chars: int
    min_other_letters: int
    max_other_words: int
    flattened_newline: re.Pattern[str]
    line_head: re.Pattern[str]
    inline_head: re.Pattern[str]


def normalize_heading(text: str) -> str:
    """Fold the spelling differences that do not change a heading's meaning."""
    text = text.lower().replace("-", " ").replace("_", " ")
    text = re.sub(r"\s*([/&])\s*", r"\1", text)
    return " ".join(text.split())


@lru_cache(maxsize=1)
def load_rules() -> SectionRules:
    """Compile the section rules once per process; they are read-only afterwards."""
    data = read_rules_json(RULES_FILE)
    try:
        variants: dict[str, str] = {}
        for canonical, names in data["sections"].items():
            for variant in [canonical.replace("_", " "), *names]:
                variants.setdefault(normalize_heading(variant), canonical)
        max_chars = int(data["max_heading_chars"])
        return SectionRules(
            variants=variants,
            subheadings=frozenset(normalize_heading(s) for s in data["subheadings"]),
            line_start_only=frozenset(normalize_heading(s) for s in data["line_start_only"]),
            nested={k: frozenset(v) for k, v in data["nested_sections"].items()},
            containers=frozenset(data["container_sections"]),
            other_section=str(data["other_section"]),
            min_inline_chars=int(data["min_inline_chars"]),
            min_other_letters=int(data["min_other_letters"]),
            max_other_words=int(data["max_other_words"]),
            flattened_newline=re.compile(data["flattened_newline"]),
            line_head=re.compile(
                rf"[ \t]*(?P<num>{_NUMBERING})?"
                rf"(?P<head>[A-Za-z][{_HEAD_CHARS}]{{0,{max_chars - 1}}}?)[ \t]*"
                r"(?:(?P<colon>:)(?![0-9/])|(?=[ \t]*(?:\r?\n|$))"
                rf"|(?P<flat>(?=[ \t]*(?:{data['flattened_newline']}))))"
            ),
            inline_head=re.compile(
                rf"(?<![A-Za-z0-9/&\-'])(?P<head>[A-Z][A-Z0-9/&\-' ]{{0,{max_chars - 2}}}[A-Z)])"
                r"[ \t]*(?P<colon>:)(?![0-9/])"
            ),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise ResourceError(f"malformed rules file clinnlp/rules/{RULES_FILE}: {exc!r}") from exc


def line_starts(text: str) -> list[int]:
    """Offsets where a line starts: 0, after each newline, and after each flattened line break."""
    starts = {0}
    starts.update(m.end() for m in re.finditer(r"\n", text))
    starts.update(m.end() for m in load_rules().flattened_newline.finditer(text))
    return sorted(s for s in starts if s < len(text))


def _is_capitals(text: str) -> bool:
    """True for heading text written in capitals (digits and punctuation allowed)."""
    return any(c.isalpha() for c in text) and text == text.upper()


def _after_break(text: str, pos: int) -> bool:
    """True when ``pos`` follows a blank line, a finished sentence or a colon (or starts the text)."""
    window = text[max(0, pos - 200) : pos]
    if _BLANK_LINE_END.search(window):
        return True
    before = window.rstrip()
    return not before or before[-1] in ".?!:"


_JOINERS = re.compile(r"/|&| and ")


def canonical_section(key: str, rules: SectionRules) -> str | None:
    """The section a normalised heading names: a listed variant, or a combined heading
    ("past medical history/surgeries/hospitalizations", "procedures and immunizations")
    named by its first part that is one; None for an unknown heading."""
    if key in rules.variants:
        return rules.variants[key]
    for part in _JOINERS.split(key):
        part = part.strip()
        if len(part) > 1 and part not in rules.line_start_only and part in rules.variants:
            return rules.variants[part]
    return None


def _line_heading(text: str, pos: int, rules: SectionRules) -> tuple[int, int, str, str | None] | None:
    """The heading at line start ``pos`` as (start, end, text, kind), or None.

    ``kind`` is the canonical section name, ``""`` for an unknown capitalised heading
    (a section or a subheading depending on where it stands), or None for a subheading.
    """
    m = rules.line_head.match(text, pos)
    if m is None:
        return None
    head = m.group("head").rstrip()
    if head[0].islower() and not _after_break(text, pos):
        return None  # "...we discussed the\nplan: ..." is wrapped prose, not a heading
    key = normalize_heading(head)
    has_colon = m.group("colon") is not None
    # A flattened line end ("ANESTHESIA,General.") only ends a heading written in capitals.
    canonical = canonical_section(key, rules)
    if m.group("flat") is not None and not (_is_capitals(head) and canonical is not None):
        return None
    start = m.start("num") if m.group("num") else m.start("head")
    end = m.end()
    if canonical is not None:
        # A one-letter heading (SOAP "S:", "A:") needs its colon to be told from prose.
        if len(key) == 1 and not has_colon:
            return None
        return start, end, head, canonical
    if key in rules.subheadings and (has_colon or _is_capitals(head)):
        return start, end, head, None
    if has_colon and _is_capitals(head):
        words = _WORD_RE.findall(head)
        letters = sum(len(w) for w in words)
        numbered = m.group("num") is not None  # "1. HYPERTENSION:" is a list item, not a section
        if not numbered and letters >= rules.min_other_letters and len(words) <= rules.max_other_words:
            return start, end, head, ""  # unknown capitalised heading
        if letters >= 2:
            return start, end, head, None
    return None


def find_headings(text: str) -> list[Heading]:
    """All headings of ``text`` in order; section headings carry their canonical name."""
    rules = load_rules()
    found: dict[int, tuple[int, int, str, str | None]] = {}
    for pos in line_starts(text):
        hit = _line_heading(text, pos, rules)
        if hit is not None:
            found[hit[0]] = hit
    for m in rules.inline_head.finditer(text):
        head = m.group("head").rstrip()
        key = normalize_heading(head)
        canonical = canonical_section(key, rules)
        if canonical is None or key in rules.line_start_only or len(key) < rules.min_inline_chars:
            continue
        start = m.start("head")
        if start not in found and not any(s <= start < e for s, e, _, _ in found.values()):
            found[start] = (start, m.end(), head, canonical)

    headings: list[Heading] = []
    current: str | None = None
    for start, end, head, kind in sorted(found.values()):
        if kind == "":  # unknown capitalised heading: a new section unless inside a container
            kind = None if current in rules.containers else rules.other_section
        elif kind is not None and current in rules.nested.get(kind, frozenset()):
            kind = None
        if kind is not None:
            current = kind
        headings.append(Heading(start=start, end=end, text=head, name=kind))
    return headings


def sections_from_headings(headings: Sequence[Heading], text_length: int) -> list[Section]:
    """Turn section headings into sections that each run up to the next one."""
    starts = [h for h in headings if h.name is not None]
    sections: list[Section] = []
    for i, heading in enumerate(starts):
        end = starts[i + 1].start if i + 1 < len(starts) else text_length
        sections.append(Section(name=str(heading.name), start=heading.start, end=end))
    return sections


def heading_spans(headings: Sequence[Heading]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Split headings into (section heading spans, subheading spans) for the sentence splitter."""
    main = [(h.start, h.end) for h in headings if h.name is not None]
    sub = [(h.start, h.end) for h in headings if h.name is None]
    return main, sub


def section_at(sections: Sequence[Section], offset: int) -> str | None:
    """Name of the section containing character ``offset``, or None (sections sorted, disjoint)."""
    i = bisect_right(sections, offset, key=lambda s: s.start) - 1
    if i >= 0 and offset < sections[i].end:
        return sections[i].name
    return None


class SectionDetector:
    """Sets ``doc._.clinnlp_sections`` and the heading spans the sentence splitter cuts at."""

    def __init__(self, nlp: Language, name: str) -> None:
        install_extensions()
        self.nlp = nlp
        self.name = name
        load_rules()  # fail at pipeline build time, not on the first note

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text  # computed from the tokens on every access: read it once
        headings = find_headings(text)
        doc._.clinnlp_sections = sections_from_headings(headings, len(text))
        main, sub = heading_spans(headings)
        doc.user_data[HEADING_SPANS_KEY] = main
        doc.user_data[SUBHEADING_SPANS_KEY] = sub
        return doc


@Language.factory("clinnlp_sections")
def make_section_detector(nlp: Language, name: str) -> SectionDetector:
    """spaCy factory for :class:`SectionDetector`."""
    return SectionDetector(nlp, name)


__all__ = [
    "HEADING_SPANS_KEY",
    "SUBHEADING_SPANS_KEY",
    "Heading",
    "SectionDetector",
    "find_headings",
    "heading_spans",
    "line_starts",
    "load_rules",
    "read_rules_json",
    "make_section_detector",
    "section_at",
    "sections_from_headings",
]
