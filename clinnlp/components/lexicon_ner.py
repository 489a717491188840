"""Dependency-light NER: longest-match lookup of the packaged clinical lexicon.

No model, no GPU: a greedy left-to-right scan over the document's tokens that, at each
position, takes the longest lexicon term starting there (case-sensitive abbreviations
and folded terms compete; the longer wins, the abbreviation on a tie). It finds
DIAGNOSIS, MEDICATION and FINDING mentions with codes (ICD-10-CM, DOID, DrugBank, MeSH,
LOINC, HPO...) and is the baseline every other NER back-end is compared with.

``span._.clinnlp_confidence`` is a fixed *rule prior* per match type, not a calibrated
probability:

==========================  =====  =============================================
match type                  value  meaning
==========================  =====  =============================================
``CONFIDENCE_EXACT``         0.90  text equals the term up to case, spacing, hyphens
                                   and possessives (``Crohn's`` = ``Crohn``)
``CONFIDENCE_WITH_VALUE``    0.90  a value-gated term (``K 3.2``, ``BP 120/80``)
``CONFIDENCE_ABBREVIATION``  0.85  a case-sensitive short form (``CHF``, ``ASA``)
``CONFIDENCE_FOLDED``        0.80  matched only after plural or accent folding
==========================  =====  =============================================
"""

from __future__ import annotations

import re

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from clinnlp.errors import ConfigError
from clinnlp.extensions import FINDING, MENTION_LABELS, install_extensions
from clinnlp.lexicon import BLOCK_LABEL, SKIP_TOKENS, fold
from clinnlp.lexicon.store import Entry, Lexicon, load_lexicon

CONFIDENCE_EXACT = 0.9
CONFIDENCE_WITH_VALUE = 0.9
CONFIDENCE_ABBREVIATION = 0.85
CONFIDENCE_FOLDED = 0.8

#: Tokens allowed between a value-gated term and its value: ``K: 3.2``, ``BP was 120/80``.
VALUE_CONNECTORS = frozenset({":", "=", "was", "is", "of", "-", "at"})
MAX_CONNECTORS = 2


_PLAIN_DROP = re.compile(r"['’](?:s\b)?|[-–‐‑\s]+")


def _plain(text: str) -> str:
    """Lower case without spaces, hyphens and possessives: what "exact" ignores."""
    return _PLAIN_DROP.sub("", text.lower())


class LexiconNER:
    """Marks lexicon terms in ``doc.ents`` with source, confidence, codes and finding kind."""

    def __init__(self, nlp: Language, name: str, *, resource: str | None = None,
                 labels: list[str] | None = None) -> None:
        install_extensions()
        unknown = sorted(set(labels or []) - set(MENTION_LABELS))
        if unknown:
            raise ConfigError(f"{name}: unknown labels {unknown}; allowed: {', '.join(MENTION_LABELS)}")
        self.nlp = nlp
        self.name = name
        self.labels = frozenset(labels or MENTION_LABELS)
        self.lexicon: Lexicon = load_lexicon(resource)

    def __call__(self, doc: Doc) -> Doc:
        """Add the matches to ``doc.ents``; existing entities survive unless a match overlaps them."""
        spans = [span for span in self.find(doc) if span.label_ in self.labels]
        if spans:
            doc.ents = filter_spans(spans + list(doc.ents))
        return doc

    def find(self, doc: Doc) -> list[Span]:
        """Non-overlapping lexicon matches, the longest at each position, left to right (all labels)."""
        positions: list[int] = []
        for token in doc:
            text = token.text
            if text in SKIP_TOKENS:
                continue
            if token.is_space and text.count("\n") < 2:
                continue  # a paragraph break stays in as a barrier no term can span
            positions.append(token.i)
        raw = [doc[i].text for i in positions]
        folded = [fold(t) for t in raw]
        lex = self.lexicon
        n = len(positions)
        spans: list[Span] = []
        i = 0
        while i < n:
            best_len = 0
            best: Entry | None = None
            longest = lex.exact_max.get(raw[i], 0)
            for length in range(min(longest, n - i), 0, -1):
                entry = lex.exact.get(tuple(raw[i : i + length]))
                if entry is not None and self._value_ok(entry, doc, positions[i + length - 1]):
                    best_len, best = length, entry
                    break
            longest = lex.folded_max.get(folded[i], 0)
            for length in range(min(longest, n - i), best_len, -1):
                entry = lex.folded.get(tuple(folded[i : i + length]))
                if entry is not None and self._value_ok(entry, doc, positions[i + length - 1]):
                    best_len, best = length, entry
                    break
            if best is None:
                i += 1
                continue
            if best.label != BLOCK_LABEL:
                spans.append(self._span(doc, positions[i], positions[i + best_len - 1] + 1, best))
            i += best_len
        return spans

    @staticmethod
    def _value_ok(entry: Entry, doc: Doc, last: int) -> bool:
        """For value-gated terms, require a number right after (``K 3.2``, ``T: 38.1``)."""
        if not entry.requires_value:
            return True
        connectors = 0
        for token in doc[last + 1 : last + 2 + MAX_CONNECTORS]:
            if token.text[:1].isdigit():
                return True
            if token.is_space or token.lower_ in VALUE_CONNECTORS:
                connectors += 1
                if connectors > MAX_CONNECTORS:
                    return False
                continue
            return False
        return False

    def _span(self, doc: Doc, start: int, end: int, entry: Entry) -> Span:
        """A labelled span with clinnlp's extension attributes filled in."""
        span = Span(doc, start, end, label=entry.label)
        if entry.requires_value:
            confidence = CONFIDENCE_WITH_VALUE
        elif entry.case_sensitive:
            confidence = CONFIDENCE_ABBREVIATION
        elif _plain(span.text) == _plain(entry.surface):
            confidence = CONFIDENCE_EXACT
        else:
            confidence = CONFIDENCE_FOLDED
        span._.clinnlp_source = self.name
        span._.clinnlp_confidence = confidence
        span._.clinnlp_codes = entry.codes()
        if entry.label == FINDING:
            span._.clinnlp_finding_kind = entry.kind or "other"
        return span


@Language.factory(
    "clinnlp_lexicon_ner",
    default_config={"resource": None, "labels": None},
)
def make_lexicon_ner(nlp: Language, name: str, resource: str | None, labels: list[str] | None) -> LexiconNER:
    """spaCy factory: ``resource`` is a lexicon path (None = packaged); ``labels`` limits output."""
    return LexiconNER(nlp, name, resource=resource, labels=labels)
