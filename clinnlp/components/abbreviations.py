"""scispaCy's abbreviation detector with a parenthesis finder that is linear in the note.

Why not scispaCy's component as is: it finds ``( ... )`` with the Matcher pattern
``[{"ORTH": "("}, {"OP": "+"}, {"ORTH": ")"}]``, which yields every ``(`` paired with
*every* later ``)`` of the document. A note's parentheses pile up over its length, so time
and memory grow with its square: a 1 MB note took over 2.5 minutes and 7.6 GB in that
matcher alone. scispaCy then keeps only the matches of at most 8 tokens inside the
brackets (``filter_matches``), so this component produces exactly those, in the
Matcher's order, by a scan, and leaves the rest of scispaCy's detector (Schwartz & Hearst's
algorithm, the document-wide short-form matches) untouched: ``doc._.abbreviations`` is
the same.
"""

from __future__ import annotations

from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span

#: Tokens inside the brackets beyond which scispaCy's ``filter_matches`` drops a candidate.
MAX_INSIDE = 8


class BoundedParentheses:
    """Callable like a spaCy ``Matcher``: ``(match_id, start, end)`` of each ``( ... )`` with
    1 to :data:`MAX_INSIDE` tokens inside, in the Matcher's order (by end, then the later
    start first), which scispaCy's first-definition-wins rule depends on."""

    def __init__(self, match_id: int) -> None:
        self.match_id = match_id

    def __call__(self, doclike: Doc | Span) -> list[tuple[int, int, int]]:
        doc = doclike if isinstance(doclike, Doc) else doclike.as_doc()
        words = [token.text for token in doc]
        closes = [i for i, word in enumerate(words) if word == ")"]
        matches: list[tuple[int, int, int]] = []
        at = 0
        for start, word in enumerate(words):
            if word != "(":
                continue
            while at < len(closes) and closes[at] <= start + 1:
                at += 1  # a ")" right after "(" encloses nothing; "+" needs one token
            for close in closes[at:]:
                if close - start - 1 > MAX_INSIDE:
                    break
                matches.append((self.match_id, start, close + 1))
        matches.sort(key=lambda m: (m[2], -m[1]))
        return matches


def make_detector(nlp: Language, name: str) -> Any:
    """scispaCy's ``AbbreviationDetector`` with :class:`BoundedParentheses` as its matcher."""
    from scispacy.abbreviation import AbbreviationDetector

    detector = AbbreviationDetector(nlp, name)
    detector.matcher = BoundedParentheses(nlp.vocab.strings.add("parenthesis"))
    return detector


@Language.factory("clinnlp_abbreviations")
def make_abbreviations(nlp: Language, name: str) -> Any:
    """spaCy factory for :func:`make_detector` (sets ``doc._.abbreviations`` as scispaCy's does)."""
    return make_detector(nlp, name)


__all__ = ["MAX_INSIDE", "BoundedParentheses", "make_abbreviations", "make_detector"]
