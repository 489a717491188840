"""Corpus statistics, the numbers behind ``clinnlp corpus stats`` and the corpus cards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from clinnlp.readers.types import GoldDocument


def corpus_stats(docs: Iterable[GoldDocument]) -> dict[str, object]:
    """Counts of documents, characters and spans (in all and per type), JSON-ready.

    ``discontinuous_spans`` and ``docs_without_spans`` are there because both change
    how a corpus can be used (token-tagging loses discontinuity; ADE is mostly negatives).
    """
    n_docs = chars = discontinuous = empty = 0
    by_type: Counter[str] = Counter()
    for doc in docs:
        n_docs += 1
        chars += len(doc.text)
        empty += not doc.spans
        for span in doc.spans:
            by_type[span.label] += 1
            discontinuous += bool(span.fragments)
    return {
        "docs": n_docs,
        "chars": chars,
        "spans": sum(by_type.values()),
        "spans_by_type": dict(sorted(by_type.items())),
        "discontinuous_spans": discontinuous,
        "docs_without_spans": empty,
    }
