"""Split spaCy tokens where a model's mention starts or ends inside one.

Why: the transformer reads sub-words, so its mentions can end inside a spaCy token:
``pilocarpine`` in ``pilocarpine- and kainic acid-induced``, ``MA`` in ``(MA)-induced``,
``Ca`` in ``Ca(2+)``, ``spiperone`` in ``[3H]spiperone``. A span must cover whole tokens,
and widening it to the token (``pilocarpine-``, ``MA)-induced``) made the mention wrong:
on BC5CDR dev, 103 correct mentions were lost that way (strict F1 0.8297 with the widened
spans, 0.8378 with the split; ``clinnlp evaluate --data bc5cdr:...``). Splitting only the
tokens a mention edge falls in leaves the rest of the tokenisation, which the lexicon and
the rules were built on, as it is.

Retokenising moves token indices, so spans held from earlier components go stale;
scispaCy's abbreviations (``doc._.abbreviations``, each with ``._.long_form``) are the
only ones before the NER, and they are re-anchored by their character offsets.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from spacy.tokens import Doc, Span


def split_at(doc: Doc, offsets: Iterable[int]) -> int:
    """Split the tokens of ``doc`` that have one of the character ``offsets`` strictly
    inside them; returns how many tokens were split."""
    starts = [token.idx for token in doc]
    cuts: dict[int, set[int]] = {}
    for offset in offsets:
        i = bisect_right(starts, offset) - 1
        if i < 0:
            continue
        token = doc[i]
        inside = offset - token.idx
        if 0 < inside < len(token.text):
            cuts.setdefault(i, set()).add(inside)
    if not cuts:
        return 0
    held = _abbreviation_offsets(doc)
    with doc.retokenize() as retokenizer:
        for i, points in cuts.items():
            token = doc[i]
            bounds = [0, *sorted(points), len(token.text)]
            orths = [token.text[a:b] for a, b in zip(bounds, bounds[1:])]
            retokenizer.split(token, orths, heads=[(token, 0)] * len(orths))
    if held is not None:
        _restore_abbreviations(doc, held)
    return len(cuts)


def _abbreviation_offsets(doc: Doc) -> list[tuple[tuple[int, int], tuple[int, int] | None]] | None:
    """scispaCy's short forms and their long forms as character ranges (None: no detector)."""
    if not Doc.has_extension("abbreviations"):
        return None
    held = []
    for short in doc._.abbreviations or []:
        long_form = getattr(short._, "long_form", None) if Span.has_extension("long_form") else None
        long_range = (long_form.start_char, long_form.end_char) if isinstance(long_form, Span) else None
        held.append(((short.start_char, short.end_char), long_range))
    return held


def _restore_abbreviations(doc: Doc, held: list[tuple[tuple[int, int], tuple[int, int] | None]]) -> None:
    """Rebuild ``doc._.abbreviations`` on the retokenised doc from character ranges."""
    restored = []
    for (start, end), long_range in held:
        short = doc.char_span(start, end, alignment_mode="expand")
        if short is None:
            continue
        if long_range is not None:
            short._.long_form = doc.char_span(*long_range, alignment_mode="expand")
        restored.append(short)
    doc._.abbreviations = restored
